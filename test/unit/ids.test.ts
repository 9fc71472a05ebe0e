// Ids and claim files are checked and read by hand on the plugin path: these hold them to libcni's regular
// expression and to host-local's claim format.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidId } from '../../src/base/ids';
import { claimContent, parseClaim } from '../../src/store/disk/layout';

const LIBCNI_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

describe('isValidId', () => {
  it("is libcni's pattern for any string up to 1024 characters", () => {
    // Mostly characters near the edges of the allowed classes, so most strings are near misses.
    const char = fc.constantFrom(...'aAzZ09_.-/:@[`{ \t\n\0é'.split(''), '\u{1F600}');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(char, { maxLength: 12 }).map((a) => a.join('')),
          fc.string({ maxLength: 40 }),
        ),
        (id) => {
          expect(isValidId(id)).toBe(LIBCNI_ID.test(id));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('bounds the length at 1024', () => {
    expect(isValidId('a'.repeat(1024))).toBe(true);
    expect(isValidId('a'.repeat(1025))).toBe(false);
    expect(isValidId('')).toBe(false);
  });
});

describe('parseClaim', () => {
  it.each([
    ['host-local and leasehold write id CRLF ifname', 'c1\r\neth0', { containerID: 'c1', ifname: 'eth0' }],
    ['a bare LF', 'c1\neth0', { containerID: 'c1', ifname: 'eth0' }],
    ['old host-local: the id alone', 'c1', { containerID: 'c1', ifname: '' }],
    ['old host-local: the id and a newline', 'c1\r\n', { containerID: 'c1', ifname: '' }],
    ['surrounding whitespace', '  c1\r\n eth0 \n', { containerID: 'c1', ifname: 'eth0' }],
    ['empty', '', undefined],
    ['blank', ' \r\n ', undefined],
  ])('%s', (_, text, want) => {
    expect(parseClaim(text)).toEqual(want);
  });

  it('reads back what claimContent writes', () => {
    expect(parseClaim(claimContent({ containerID: 'abc.1-x_y', ifname: 'net1' }))).toEqual({ containerID: 'abc.1-x_y', ifname: 'net1' });
  });
});
