// The interval arithmetic of ipam.exclude: merging, membership, the next address outside, counts; and what a
// range may hand out (nextAssignable, assignableCount). Pure and table-driven; each row is checked against a
// walk over every address where the range is small enough to walk.
import { describe, expect, it } from 'vitest';
import { buildExcludes, buildRange } from '../../src/config/ranges';
import { formatIp, parseIp } from '../../src/net/ip';
import { type Span, assignableCount, nextAssignable } from '../../src/net/range';
import { SpanSet } from '../../src/net/spans';

const v4 = (text: string): bigint => parseIp(text).value;
const span = (first: string, last = first): Span => {
  const a = parseIp(first);
  return { family: a.family, first: a.value, last: parseIp(last).value };
};
const show = (s: SpanSet): string[] => s.spans.map((x) => `${formatIp({ family: x.family, value: x.first })}-${formatIp({ family: x.family, value: x.last })}`);

describe('SpanSet.of: sorted, merged, never touching', () => {
  const cases: Array<[string, Span[], string[]]> = [
    ['empty', [], []],
    ['one address', [span('10.0.0.5')], ['10.0.0.5-10.0.0.5']],
    ['out of order', [span('10.0.0.9'), span('10.0.0.1')], ['10.0.0.1-10.0.0.1', '10.0.0.9-10.0.0.9']],
    ['overlapping', [span('10.0.0.1', '10.0.0.8'), span('10.0.0.5', '10.0.0.20')], ['10.0.0.1-10.0.0.20']],
    ['touching merge', [span('10.0.0.1', '10.0.0.4'), span('10.0.0.5', '10.0.0.9')], ['10.0.0.1-10.0.0.9']],
    ['contained', [span('10.0.0.0', '10.0.0.255'), span('10.0.0.7')], ['10.0.0.0-10.0.0.255']],
    ['a gap of one stays', [span('10.0.0.1', '10.0.0.4'), span('10.0.0.6')], ['10.0.0.1-10.0.0.4', '10.0.0.6-10.0.0.6']],
    ['duplicates', [span('10.0.0.3'), span('10.0.0.3'), span('10.0.0.3')], ['10.0.0.3-10.0.0.3']],
    [
      'families kept apart, IPv4 first',
      [span('fd00::1'), span('10.0.0.1'), span('::a'), span('0.0.0.0', '0.0.0.9')],
      ['0.0.0.0-0.0.0.9', '10.0.0.1-10.0.0.1', '::a-::a', 'fd00::1-fd00::1'],
    ],
  ];
  it.each(cases)('%s', (_n, spans, want) => expect(show(SpanSet.of(spans))).toEqual(want));
});

describe('SpanSet queries agree with a walk over every address', () => {
  // Spans over 10.0.0.0-10.0.0.63, with IPv6 spans at the same values that must never be confused with them.
  const sets: Array<[string, string[]]> = [
    ['none', []],
    ['scattered', ['10.0.0.3', '10.0.0.10/31', '10.0.0.32/29', '10.0.0.63']],
    ['runs that merge', ['10.0.0.0/28', '10.0.0.16/28', '10.0.0.40/30']],
    ['everything', ['10.0.0.0/26']],
  ];
  it.each(sets)('%s', (_n, excludes) => {
    const set = buildExcludes([...excludes, '::a00:0/122']);
    const held = (v: bigint) => excludes.some((e) => buildExcludes([e]).spans.some((s) => v >= s.first && v <= s.last));
    const base = v4('10.0.0.0');
    for (let a = 0n; a < 64n; a++) {
      expect(set.has(4, base + a), `has .${a}`).toBe(held(base + a));
      let next = base + a;
      while (held(next)) next++;
      expect(set.nextOutside(4, base + a), `nextOutside .${a}`).toBe(next);
      for (let b = a; b < 64n; b += 7n) {
        let n = 0n;
        for (let v = a; v <= b; v++) if (held(base + v)) n++;
        expect(set.countIn(4, base + a, base + b), `countIn .${a}-.${b}`).toBe(n);
      }
    }
    expect(set.countIn(4, base + 5n, base + 4n)).toBe(0n);
  });

  it('answers without walking: a /96 in a /64, a /8 with 2,000 /24s out', () => {
    const big = buildExcludes(['fd00::/96']);
    expect(big.nextOutside(6, parseIp('fd00::1').value)).toBe(parseIp('fd00::1:0:0').value);
    expect(big.countIn(6, parseIp('fd00::').value, parseIp('fd00::ffff:ffff:ffff:ffff').value)).toBe(1n << 32n);
    const runs = buildExcludes(Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`));
    const v4Spans = (set: SpanSet) => set.spans.filter((x) => x.family === 4);
    expect(v4Spans(runs)).toHaveLength(1);
    expect(runs.nextOutside(4, v4('10.0.0.1'))).toBe(v4('10.7.208.0'));
    const alternate = buildExcludes(Array.from({ length: 2000 }, (_, i) => `10.${i >> 7}.${(i & 127) * 2}.0/24`));
    expect(v4Spans(alternate)).toHaveLength(2000);
    expect(alternate.countIn(4, v4('10.0.0.0'), v4('10.255.255.255'))).toBe(2000n * 256n);
    expect(alternate.nextOutside(4, v4('10.3.4.9'))).toBe(v4('10.3.5.0'));
    expect(alternate.nextOutside(4, v4('10.3.5.9'))).toBe(v4('10.3.5.9'));
  });
});

describe('what a range may hand out: nextAssignable and assignableCount', () => {
  const cases: Array<{ name: string; range: Record<string, string>; exclude: string[]; from: string; next: string | null; count: bigint }> = [
    { name: 'nothing excluded: the gateway is skipped', range: { subnet: '10.0.0.0/29' }, exclude: [], from: '10.0.0.0', next: '10.0.0.2', count: 5n },
    { name: 'from inside a run: past its end', range: { subnet: '10.0.0.0/24' }, exclude: ['10.0.0.0/27'], from: '10.0.0.5', next: '10.0.0.32', count: 223n },
    {
      name: 'a run that ends at the gateway',
      range: { subnet: '10.0.0.0/24', gateway: '10.0.0.9' },
      exclude: ['10.0.0.2/31', '10.0.0.4/30', '10.0.0.8'],
      from: '10.0.0.2',
      next: '10.0.0.10',
      count: 246n,
    },
    { name: 'the gateway, then a run', range: { subnet: '10.0.0.0/24' }, exclude: ['10.0.0.2/31'], from: '10.0.0.1', next: '10.0.0.4', count: 251n },
    { name: 'an excluded gateway is counted once', range: { subnet: '10.0.0.0/29' }, exclude: ['10.0.0.0/31'], from: '10.0.0.0', next: '10.0.0.2', count: 5n },
    {
      name: 'a gateway outside rangeStart-rangeEnd',
      range: { subnet: '10.0.0.0/24', rangeStart: '10.0.0.100', rangeEnd: '10.0.0.109' },
      exclude: [],
      from: '10.0.0.0',
      next: '10.0.0.100',
      count: 10n,
    },
    { name: 'everything after `from` excluded', range: { subnet: '10.0.0.0/29' }, exclude: ['10.0.0.4/30'], from: '10.0.0.4', next: null, count: 2n },
    { name: 'all of it excluded', range: { subnet: '10.0.0.0/29' }, exclude: ['10.0.0.0/24'], from: '10.0.0.0', next: null, count: 0n },
    { name: 'the other family changes nothing', range: { subnet: '10.0.0.0/29' }, exclude: ['::a00:0/120'], from: '10.0.0.2', next: '10.0.0.2', count: 5n },
    {
      name: 'IPv6: a /96 out of a /64',
      range: { subnet: 'fd00::/64' },
      exclude: ['fd00::/96'],
      from: 'fd00::1',
      next: 'fd00::1:0:0',
      count: (1n << 64n) - (1n << 32n),
    },
    {
      name: 'IPv4 /8 with 2,000 /24s out',
      range: { subnet: '10.0.0.0/8' },
      exclude: Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`),
      from: '10.0.0.1',
      next: '10.7.208.0',
      count: (1n << 24n) - 2n - 2000n * 256n + 1n,
    },
  ];
  it('IPv4-mapped addresses are never handed out, though ::/80 holds them', () => {
    const r = buildRange({ subnet: '::/80', rangeStart: '::fffe:ffff:fffe' }, 'r');
    const ex = buildExcludes([]);
    expect(formatIp({ family: 6, value: nextAssignable(r, ex, r.start + 1n)! })).toBe('::fffe:ffff:ffff');
    expect(nextAssignable(r, ex, r.start + 2n)).toBeUndefined();
    expect(assignableCount(r, ex)).toBe(2n);
  });
  it.each(cases)('$name', ({ range, exclude, from, next, count }) => {
    const r = buildRange(range as never, 'r');
    const ex = buildExcludes(exclude);
    const got = nextAssignable(r, ex, parseIp(from).value);
    expect(got === undefined ? null : formatIp({ family: r.family, value: got })).toBe(next);
    expect(assignableCount(r, ex)).toBe(count);
  });
});
