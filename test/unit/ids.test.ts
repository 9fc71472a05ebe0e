// Ids are checked by hand on the plugin path: this holds the check to libcni's regular expression.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidId } from '../../src/base/ids';

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
