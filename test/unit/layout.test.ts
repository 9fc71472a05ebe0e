// The disk layout's small formats: host-local's claim files and the cursors link's target.
import { describe, expect, it } from 'vitest';
import { claimContent, decodeCursorList, encodeCursorList, parseClaim } from '../../src/store/disk/layout';
import { decodeState } from '../../src/store/state';

describe('parseClaim', () => {
  it.each([
    ['host-local and leasehold write id CRLF ifname', 'c1\r\neth0', { containerID: 'c1', ifname: 'eth0' }],
    ['a bare LF', 'c1\neth0', { containerID: 'c1', ifname: 'eth0' }],
    ['old host-local: the id alone', 'c1', { containerID: 'c1', ifname: '' }],
    ['old host-local: the id and a newline', 'c1\r\n', { containerID: 'c1', ifname: '' }],
    ['surrounding whitespace', '  c1\r\n eth0 \n', { containerID: 'c1', ifname: 'eth0' }],
    ['empty', '', undefined],
    ['blank', ' \r\n ', undefined],
    ['an id that is a path', '/../../outside/pwn\r\neth0', undefined],
    ['an id with a slash', 'a/b\r\neth0', undefined],
    ['an interface name with a slash', 'c1\r\n../x', undefined],
  ])('%s', (_, text, want) => {
    expect(parseClaim(text)).toEqual(want);
  });

  it('reads back what claimContent writes', () => {
    expect(parseClaim(claimContent({ containerID: 'abc.1-x_y', ifname: 'net1' }))).toEqual({ containerID: 'abc.1-x_y', ifname: 'net1' });
  });
});

describe('the cursors link', () => {
  it.each([
    ['one range set', { '0': '10.88.0.7' }, '0=10.88.0.7'],
    ['dual-stack', { '0': '10.88.0.7', '1': 'fd00::7' }, '0=10.88.0.7,1=fd00::7'],
    ['a set without a cursor is left out', { '1': 'fd00::7' }, '1=fd00::7'],
    ['a set index far out costs no more than a near one', { '4294967295': '10.0.0.1' }, '4294967295=10.0.0.1'],
  ])('%s', (_, cursors, target) => {
    expect(encodeCursorList(cursors)).toBe(target);
    expect(decodeCursorList(target)).toEqual(cursors);
  });

  it("wins over leasehold.json's cursors, set by set, and what is not an address is ignored and reported", () => {
    const doc = '{"format":1,"network":"n","cursors":{"0":"10.0.0.9","1":"fd00::9","2":"10.2.0.9"}}';
    const st = decodeState(doc, decodeCursorList('0=10.0.0.10,2=garbage,no-equals-sign'));
    expect(st).toEqual({
      status: 'ok',
      value: { format: 1, network: 'n', cursors: { '0': '10.0.0.10', '1': 'fd00::9' } },
      ignoredCursors: { '2': 'garbage', cursors: 'no-equals-sign' },
    });
  });
});
