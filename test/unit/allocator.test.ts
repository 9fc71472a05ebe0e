import { describe, expect, it } from 'vitest';
import { type LeaseView, allocate, hasFreeAddress, shiftCursor, spreadOf, spreadStart } from '../../src/allocator/allocate';
import { CniError } from '../../src/base/errors';
import { buildExcludes, buildRangeSets } from '../../src/config/ranges';
import { type Ip, formatIp, parseIp } from '../../src/net/ip';
import { SpanSet } from '../../src/net/spans';

const sets = (...raw: Array<Array<Record<string, string>>>) => buildRangeSets(raw as never, (i) => `ranges[${i}]`);
const view = (...taken: string[]): LeaseView => {
  const s = new Set(taken.map((t) => formatIp(parseIp(t))));
  return { isTaken: (ip: Ip) => s.has(formatIp(ip)) };
};
const ip = (t?: string) => (t ? parseIp(t) : undefined);

describe('allocate: round-robin and reserved addresses', () => {
  const cases: Array<{ name: string; set: Array<Record<string, string>>; taken?: string[]; cursor?: string; exclude?: string[]; want: string }> = [
    { name: 'first free after the gateway', set: [{ subnet: '10.0.0.0/24' }], want: '10.0.0.2' },
    { name: 'continues after the cursor', set: [{ subnet: '10.0.0.0/24' }], cursor: '10.0.0.7', want: '10.0.0.8' },
    { name: 'skips taken addresses', set: [{ subnet: '10.0.0.0/24' }], cursor: '10.0.0.7', taken: ['10.0.0.8', '10.0.0.9'], want: '10.0.0.10' },
    { name: 'wraps to the start after the last address', set: [{ subnet: '10.0.0.0/24' }], cursor: '10.0.0.254', want: '10.0.0.2' },
    { name: 'never the broadcast address', set: [{ subnet: '10.0.0.0/30' }], taken: ['10.0.0.2'], want: 'exhausted' },
    { name: 'never the gateway, even when set explicitly', set: [{ subnet: '10.0.0.0/29', gateway: '10.0.0.3' }], cursor: '10.0.0.2', want: '10.0.0.4' },
    {
      name: 'rangeStart and rangeEnd bound the search',
      set: [{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.100', rangeEnd: '10.0.0.101' }],
      taken: ['10.0.0.100'],
      want: '10.0.0.101',
    },
    { name: 'exclude entries are skipped', set: [{ subnet: '10.0.0.0/24' }], exclude: ['10.0.0.2', '10.0.0.0/29'], want: '10.0.0.8' },
    { name: 'spills into the next range of the set', set: [{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/24' }], taken: ['10.0.0.2'], want: '10.0.1.2' },
    {
      name: 'cursor in the second range wraps into the first',
      set: [{ subnet: '10.0.0.0/29' }, { subnet: '10.0.1.0/30' }],
      cursor: '10.0.1.2',
      want: '10.0.0.2',
    },
    {
      name: 'a freed cursor address comes back only after a full round',
      set: [{ subnet: '10.0.0.0/29' }],
      cursor: '10.0.0.3',
      taken: ['10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.6'],
      want: '10.0.0.3',
    },
    { name: 'IPv6 starts after the subnet-router and gateway', set: [{ subnet: 'fd00::/120' }], want: 'fd00::2' },
    { name: 'IPv6 may use the last address', set: [{ subnet: 'fd00::/126' }], taken: ['fd00::2'], want: 'fd00::3' },
    { name: 'a cursor outside the set is ignored', set: [{ subnet: '10.0.0.0/24' }], cursor: '192.168.0.9', want: '10.0.0.2' },
    { name: 'a /96 excluded from a /64: the first address after it', set: [{ subnet: 'fd00::/64' }], exclude: ['fd00::/96'], want: 'fd00::1:0:0' },
    {
      name: '2,000 excluded /24s in a /8: the first address after them',
      set: [{ subnet: '10.0.0.0/8' }],
      exclude: Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`),
      want: '10.7.208.0',
    },
    {
      name: 'alternate /24s excluded, the free ones between taken: past them all',
      set: [{ subnet: '10.0.0.0/8' }],
      exclude: Array.from({ length: 2000 }, (_, i) => `10.${i >> 7}.${(i & 127) * 2}.0/24`),
      taken: Array.from({ length: 3 }, (_, i) => `10.0.1.${i}`),
      want: '10.0.1.3',
    },
    {
      name: 'a cursor inside an excluded run continues after the run',
      set: [{ subnet: '10.0.0.0/24' }],
      cursor: '10.0.0.9',
      exclude: ['10.0.0.8/29'],
      want: '10.0.0.16',
    },
    {
      name: 'taken addresses right after a run are stepped over',
      set: [{ subnet: '10.0.0.0/24' }],
      exclude: ['10.0.0.0/28'],
      taken: ['10.0.0.16', '10.0.0.17'],
      want: '10.0.0.18',
    },
    {
      name: 'everything after the cursor excluded: wraps to the start',
      set: [{ subnet: '10.0.0.0/24' }],
      cursor: '10.0.0.200',
      exclude: ['10.0.0.192/26'],
      want: '10.0.0.2',
    },
    {
      name: 'a first range wholly excluded spills into the next',
      set: [{ subnet: '10.0.0.0/24' }, { subnet: '10.0.1.0/24' }],
      exclude: ['10.0.0.0/24'],
      want: '10.0.1.2',
    },
    { name: 'a run that ends at the gateway', set: [{ subnet: '10.0.0.0/24', gateway: '10.0.0.9' }], exclude: ['10.0.0.0/29', '10.0.0.8'], want: '10.0.0.10' },
    {
      name: 'never an IPv4-mapped address: ::/80 wraps before ::ffff:0:0',
      set: [{ subnet: '::/80', rangeStart: '::fffe:ffff:fffe' }],
      cursor: '::fffe:ffff:ffff',
      want: '::fffe:ffff:fffe',
    },
    {
      name: 'excludes and leases together fill the set',
      set: [{ subnet: '10.0.0.0/29' }],
      exclude: ['10.0.0.2/31', '10.0.0.5'],
      taken: ['10.0.0.4', '10.0.0.6'],
      want: 'exhausted',
    },
  ];
  it.each(cases)('$name', ({ set, taken = [], cursor, exclude = [], want }) => {
    const req = { rangeSets: sets(set), exclude: buildExcludes(exclude), cursors: [ip(cursor)], requested: [], alreadyLeased: [] };
    if (want === 'exhausted') {
      expect(() => allocate(req, view(...taken))).toThrow(/no IP addresses available in range set/);
      return;
    }
    const got = allocate(req, view(...taken));
    expect(formatIp(got.picks[0]!.ip)).toBe(want);
    expect(formatIp(got.cursors[0]!)).toBe(want);
  });
});

describe('allocate: requests, repeats and several range sets', () => {
  const two = sets([{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]);
  const base = { rangeSets: two, exclude: SpanSet.EMPTY, cursors: [undefined, undefined], requested: [] as Ip[], alreadyLeased: [] as Ip[] };

  it('gives one address per range set', () => {
    const got = allocate(base, view());
    expect(got.picks.map((p) => formatIp(p.ip))).toEqual(['10.0.0.2', 'fd00::2']);
  });
  it('honours a requested address in its range set and allocates the rest', () => {
    const got = allocate({ ...base, requested: [parseIp('10.0.0.77')] }, view());
    expect(got.picks.map((p) => formatIp(p.ip))).toEqual(['10.0.0.77', 'fd00::2']);
    expect(got.cursors[0]).toBeUndefined(); // a requested address does not move round-robin
  });
  const refusals: Array<[string, string, string[], RegExp]> = [
    ['outside every range', '10.9.9.9', [], /not in any configured range/],
    ['the gateway', '10.0.0.1', [], /is the gateway/],
    ['taken by another attachment', '10.0.0.5', ['10.0.0.5'], /already leased/],
  ];
  it.each(refusals)('refuses a requested address that is %s', (_n, req, taken, re) => {
    const run = () => allocate({ ...base, requested: [parseIp(req)] }, view(...taken));
    expect(run).toThrow(re);
    expect(run).toThrow(CniError);
  });
  it('refuses an excluded requested address', () => {
    expect(() => allocate({ ...base, exclude: buildExcludes(['10.0.0.64/26']), requested: [parseIp('10.0.0.70')] }, view())).toThrow(/excluded/);
  });
  it('refuses two requested addresses in one range set', () => {
    expect(() => allocate({ ...base, requested: [parseIp('10.0.0.5'), parseIp('10.0.0.6')] }, view())).toThrow(/same range set/);
  });
  it('a repeated ADD reuses what the attachment holds, even if the view says taken', () => {
    const alreadyLeased = [parseIp('10.0.0.9'), parseIp('fd00::9')];
    const got = allocate({ ...base, alreadyLeased }, view('10.0.0.9', 'fd00::9'));
    expect(got.picks.map((p) => [formatIp(p.ip), p.isNew])).toEqual([
      ['10.0.0.9', false],
      ['fd00::9', false],
    ]);
  });
  it('exhaustion in a later range set fails the whole allocation (nothing is returned to record)', () => {
    const full = sets([{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/30' }]);
    expect(() => allocate({ ...base, rangeSets: full }, view('10.1.0.2'))).toThrow(/no IP addresses available/);
  });
  it('the exhausted message counts only addresses the set may hand out', () => {
    const req = { ...base, rangeSets: sets([{ subnet: '10.0.0.0/29' }]), exclude: buildExcludes(['10.0.0.0/30']), cursors: [undefined] };
    expect(() => allocate(req, view('10.0.0.4', '10.0.0.5', '10.0.0.6'))).toThrow(
      /all 3 usable addresses \(without the gateway and ipam\.exclude\) are leased/,
    );
  });
  it('hasFreeAddress is false only when every candidate is taken or reserved', () => {
    const s = sets([{ subnet: '10.0.0.0/29' }])[0]!;
    expect(hasFreeAddress(s, SpanSet.EMPTY, undefined, view('10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'))).toBe(true);
    expect(hasFreeAddress(s, SpanSet.EMPTY, undefined, view('10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'))).toBe(false);
  });
});

describe('shiftCursor', () => {
  const set = buildRangeSets([[{ subnet: '10.0.0.0/29' }, { subnet: '10.0.1.0/30' }]], () => 'r')[0]!;
  const at = (by: bigint, cursor?: string) => formatIp(shiftCursor(set, cursor ? parseIp(cursor) : undefined, by));

  it.each<[string | undefined, bigint, string]>([
    [undefined, 0n, '10.0.1.2'],
    [undefined, 1n, '10.0.0.1'],
    ['10.0.0.1', 1n, '10.0.0.2'],
    ['10.0.0.6', 1n, '10.0.1.1'],
    ['10.0.1.2', 1n, '10.0.0.1'],
    ['10.0.0.3', 8n, '10.0.0.3'],
    ['10.0.0.3', 8n * 1000n + 2n, '10.0.0.5'],
  ])('from %s by %s → %s', (cursor, by, expected) => {
    expect(at(by, cursor)).toBe(expected);
  });

  it('a writer starts within a quarter of the set past the shared cursor, never on it while there is room', () => {
    const big = buildRangeSets([[{ subnet: '10.1.0.0/24' }]], () => 'r')[0]!;
    const small = buildRangeSets([[{ subnet: '10.2.0.0/28' }]], () => 'r')[0]!;
    const keys = Array.from({ length: 200 }, (_, i) => `node-${i}`);
    const dist = (set: typeof big, cursor: string) => keys.map((k) => Number(spreadStart(set, parseIp(cursor), k).value - parseIp(cursor).value));
    // 254 addresses: a quarter is 63, so starts lie 0-62 past the cursor, and spread over most of that.
    const d = dist(big, '10.1.0.100');
    expect(Math.min(...d)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...d)).toBeLessThan(63);
    expect(new Set(d).size).toBeGreaterThan(40);
    // 14 addresses: within 3 past the cursor, so the address after the start is never the cursor's own.
    expect(Math.max(...dist(small, '10.2.0.5'))).toBeLessThan(3);
  });

  it('spreads: different writers start at different places', () => {
    const starts = new Set(['node-1', 'node-2', 'node-3', 'node-4', 'c1/eth0/2', 'c1/eth0/3'].map((s) => at(spreadOf(s), '10.0.0.1')));
    expect(starts.size).toBeGreaterThanOrEqual(4);
  });
});
