// The allocator's choice with holds (ipam.sticky) and cooldowns (ipam.reuseCooldownSeconds): pure, in tables.
import { describe, expect, it } from 'vitest';
import { type LeaseView, allocate, hasFreeAddress } from '../../src/allocator/allocate';
import { type Cooling, type Hold, type ReuseFacts, ReuseRules } from '../../src/allocator/reuse';
import { Code } from '../../src/base/errors';
import { buildExcludes, buildRangeSets } from '../../src/config/ranges';
import { type Ip, formatIp, parseIp } from '../../src/net/ip';
import { decodeHold, encodeHold, holdFor, keepsHold } from '../../src/store/hold';

const NOW = '2026-12-07T12:00:00.000Z';
const LATER = '2026-12-07T12:05:00.000Z';
const EARLIER = '2026-12-07T11:55:00.000Z';
const small = buildRangeSets([[{ subnet: '10.0.0.0/29' }]], () => 'r'); // 10.0.0.2-10.0.0.6
const view = (...taken: string[]): LeaseView => ({ isTaken: (ip: Ip) => taken.includes(formatIp(ip)) });
const hold = (name: string, addresses: string[], until = LATER, ifname = 'eth0'): Hold => ({
  format: 1,
  namespace: 'shop',
  name,
  ifname,
  addresses,
  releasedAt: EARLIER,
  until,
  containerID: `c-${name}`,
});
const cool = (address: string, until = LATER): Cooling => ({ address, until });

interface Case {
  name: string;
  pod?: string;
  holds?: Hold[];
  cooling?: Cooling[];
  taken?: string[];
  cursor?: string;
  requested?: string;
  want: string | RegExp;
}

const cases: Case[] = [
  { name: 'the pod gets its held address back, not the next in round-robin', pod: 'web-0', holds: [hold('web-0', ['10.0.0.5'])], want: '10.0.0.5' },
  { name: 'an expired hold still gives the address back to its pod', pod: 'web-0', holds: [hold('web-0', ['10.0.0.5'], EARLIER)], want: '10.0.0.5' },
  { name: 'a held address taken meanwhile is not given back', pod: 'web-0', holds: [hold('web-0', ['10.0.0.5'])], taken: ['10.0.0.5'], want: '10.0.0.2' },
  { name: 'a hold of another interface of the pod is not this one', pod: 'web-0', holds: [hold('web-0', ['10.0.0.2'], LATER, 'net1')], want: '10.0.0.3' },
  { name: 'another pod skips a held address', pod: 'web-1', holds: [hold('web-0', ['10.0.0.2'])], want: '10.0.0.3' },
  { name: 'a pod without a name skips a held address', holds: [hold('web-0', ['10.0.0.2'])], want: '10.0.0.3' },
  { name: 'an expired hold of another pod does not block', pod: 'web-1', holds: [hold('web-0', ['10.0.0.2'], EARLIER)], want: '10.0.0.2' },
  {
    name: 'only held addresses free: code 100 counting them',
    holds: [hold('web-0', ['10.0.0.5']), hold('web-1', ['10.0.0.6'], '2026-12-07T12:01:00.000Z')],
    taken: ['10.0.0.2', '10.0.0.3', '10.0.0.4'],
    want: /2 of them are held for deleted pods \(ipam.sticky\), the first until 2026-12-07T12:01:00.000Z/,
  },
  {
    name: 'a requested held address is refused naming the pod',
    holds: [hold('web-0', ['10.0.0.4'])],
    requested: '10.0.0.4',
    want: /held for pod shop\/web-0 until/,
  },
  { name: 'a requested address wins over the pod’s own hold', pod: 'web-0', holds: [hold('web-0', ['10.0.0.4'])], requested: '10.0.0.6', want: '10.0.0.6' },
  { name: 'round-robin skips a cooling address', cooling: [cool('10.0.0.2')], want: '10.0.0.3' },
  { name: 'an expired cooldown does not skip', cooling: [cool('10.0.0.2', EARLIER)], want: '10.0.0.2' },
  {
    name: 'only cooling addresses left: the one whose cooldown ends first',
    cooling: [cool('10.0.0.5', '2026-12-07T12:04:00.000Z'), cool('10.0.0.6', '2026-12-07T12:02:00.000Z')],
    taken: ['10.0.0.2', '10.0.0.3', '10.0.0.4'],
    want: '10.0.0.6',
  },
  {
    name: 'a cooling address that is held is never the fallback',
    holds: [hold('web-0', ['10.0.0.6'])],
    cooling: [cool('10.0.0.6')],
    taken: ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'],
    want: /1 of them is held/,
  },
  { name: 'a requested cooling address is given (the cooldown is round-robin’s)', cooling: [cool('10.0.0.4')], requested: '10.0.0.4', want: '10.0.0.4' },
  { name: 'cooldown and cursor together', cursor: '10.0.0.3', cooling: [cool('10.0.0.4')], want: '10.0.0.5' },
];

describe('allocate with holds and cooldowns', () => {
  it.each(cases)('$name', ({ pod, holds = [], cooling = [], taken = [], cursor, requested, want }) => {
    const reuse: ReuseFacts = { now: NOW, holds, cooling, ...(pod && { pod: { namespace: 'shop', name: pod, ifname: 'eth0' } }) };
    const req = {
      rangeSets: small,
      exclude: buildExcludes([]),
      cursors: [cursor ? parseIp(cursor) : undefined],
      requested: requested ? [parseIp(requested)] : [],
      alreadyLeased: [],
      reuse,
    };
    if (typeof want === 'string') {
      expect(formatIp(allocate(req, view(...taken)).picks[0]!.ip)).toBe(want);
      return;
    }
    let err: any;
    try {
      allocate(req, view(...taken));
    } catch (e) {
      err = e;
    }
    expect(err?.message).toMatch(want);
    expect(err?.code).toBe(requested ? Code.AddressUnavailable : Code.RangeExhausted);
  });

  it('STATUS counts a cooling address as free and a held one as not', () => {
    const set = small[0]!;
    const full = view('10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5');
    expect(hasFreeAddress(set, buildExcludes([]), undefined, full, { now: NOW, holds: [], cooling: [cool('10.0.0.6')] })).toBe(true);
    const held = { now: NOW, holds: [hold('web-0', ['10.0.0.6'])], cooling: [] };
    expect(hasFreeAddress(set, buildExcludes([]), undefined, full, held)).toBe(false);
    expect(new ReuseRules(held).heldIn(set)).toEqual({ count: 1, firstEnd: LATER });
  });
});

describe('hold records', () => {
  const lease = {
    format: 1 as const,
    containerID: 'c1',
    ifname: 'eth0',
    addresses: ['10.0.0.5'],
    podNamespace: 'shop',
    podName: 'web-0',
    netns: '/run/netns/x',
    createdAt: '2026-12-07T11:00:00.000Z',
    bootId: null,
  };
  it.each([
    ['no policy', undefined, false],
    ['sticky', { now: NOW, holdUntil: LATER }, true],
    ['cooldown only', { now: NOW, coolUntil: LATER }, false],
  ] as const)('%s: a hold is made %s', (_n, policy, made) => {
    expect(holdFor(lease, policy) !== undefined).toBe(made);
  });
  it('a lease without a pod name is not sticky', () => {
    expect(holdFor({ ...lease, podName: undefined }, { now: NOW, holdUntil: LATER })).toBeUndefined();
  });
  it('a repeated release keeps the hold a first one made; a later lease of the pod does not', () => {
    const h = holdFor(lease, { now: NOW, holdUntil: LATER })!;
    expect(keepsHold(h, lease)).toBe(true);
    expect(keepsHold(h, { ...lease, createdAt: LATER })).toBe(false);
    expect(keepsHold(h, { ...lease, containerID: 'c2' })).toBe(false);
  });
  it.each([
    ['round trip', (h: Hold) => encodeHold(h), 'ok'],
    ['an address that is not canonical', (h: Hold) => JSON.stringify({ ...h, addresses: ['10.0.0.05'] }), /addresses/],
    ['no until', (h: Hold) => JSON.stringify({ ...h, until: 5 }), /ISO/],
    ['another format', (h: Hold) => JSON.stringify({ ...h, format: 2 }), /format 2/],
  ] as const)('decodeHold: %s', (_n, text, want) => {
    const got = decodeHold(text(hold('web-0', ['10.0.0.5'])));
    if (want === 'ok') expect(got).toEqual(hold('web-0', ['10.0.0.5']));
    else expect(got).toMatch(want);
  });
});
