// Meaning of the range keys, with host-local's defaults: rangeStart = network+1, rangeEnd = broadcast-1
// (IPv4) or the last address (IPv6), gateway = network+1. Every rejection names the key and the value.
import { CniError, Code } from '../base/errors.js';
import { type Cidr, IPV4_MAPPED, type Ip, formatCidr, formatIp, lastOf, networkOf, parseCidr, parseCidrLoose, parseIp } from '../net/ip.js';
import { type Range, type RangeSet, type Span, overlaps, rangeSpan } from '../net/range.js';
import { SpanSet } from '../net/spans.js';
import type { RawRange } from './schema.js';

const bad = (msg: string): CniError => new CniError(Code.InvalidConfig, msg);

function parseAt<T>(where: string, text: string, parse: (t: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    throw bad(`${where}: ${(e as Error).message}`);
  }
}

export function buildRange(raw: RawRange, where: string): Range {
  const sub: Cidr = parseAt(`${where}.subnet`, raw.subnet, parseCidr);
  const family = sub.ip.family;
  const net = networkOf(sub);
  if (net !== sub.ip.value) {
    const fixed = formatCidr({ ip: { family, value: net }, prefix: sub.prefix });
    throw bad(`${where}.subnet ${raw.subnet} has host bits set; the network is ${fixed}`);
  }
  const maxPrefix = family === 4 ? 30 : 126;
  if (sub.prefix > maxPrefix) {
    throw bad(`${where}.subnet ${raw.subnet} is too small: use at most /${maxPrefix} for IPv${family}`);
  }
  const last = lastOf(sub);
  // IPv4 loses its network and broadcast addresses; IPv6 loses the subnet-router anycast address (network).
  const lowest = net + 1n;
  const highest = family === 4 ? last - 1n : last;
  const subnetText = formatCidr(sub);

  const addrIn = (key: string, text: string): bigint => {
    const ip: Ip = parseAt(`${where}.${key}`, text, parseIp);
    if (ip.family !== family) throw bad(`${where}.${key} ${text} is IPv${ip.family} but subnet ${subnetText} is IPv${family}`);
    if (ip.value < net || ip.value > last) throw bad(`${where}.${key} ${text} is outside subnet ${subnetText}`);
    return ip.value;
  };

  const start = raw.rangeStart !== undefined ? addrIn('rangeStart', raw.rangeStart) : lowest;
  const end = raw.rangeEnd !== undefined ? addrIn('rangeEnd', raw.rangeEnd) : highest;
  for (const [key, v] of [
    ['rangeStart', start],
    ['rangeEnd', end],
  ] as const) {
    if (v < lowest || v > highest) {
      throw bad(`${where}.${key} ${formatIp({ family, value: v })} is the ${v === net ? 'network' : 'broadcast'} address of ${subnetText}`);
    }
  }
  if (start > end)
    throw bad(
      `${where}: rangeStart ${raw.rangeStart ?? formatIp({ family, value: start })} is after rangeEnd ${raw.rangeEnd ?? formatIp({ family, value: end })}`,
    );
  const gateway = raw.gateway !== undefined ? addrIn('gateway', raw.gateway) : net + 1n;
  return { family, subnet: { ip: { family, value: net }, prefix: sub.prefix }, start, end, gateway };
}

/**
 * The most one config may ask for: every call answers in milliseconds up to these (docs/performance.md), and
 * a config past one is refused with code 7 naming it. Ranges count across all range sets: cluster mode reads
 * every range's taken addresses in one etcd transaction, which etcd caps at 128 operations by default. The
 * network's name is a directory's name, so no longer than a file name may be (NAME_MAX). Requested addresses
 * are bounded by rangeSets (one address per range set).
 */
export const LIMITS = { rangeSets: 16, ranges: 64, exclude: 10_000, networkName: 255 } as const;

export function buildRangeSets(raw: RawRange[][], where: (i: number) => string): RangeSet[] {
  if (raw.length > LIMITS.rangeSets) throw bad(`${raw.length} range sets are configured; at most ${LIMITS.rangeSets} are allowed (one address each)`);
  const ranges = raw.reduce((n, set) => n + set.length, 0);
  if (ranges > LIMITS.ranges) {
    throw bad(`${ranges} ranges are configured across the range sets; at most ${LIMITS.ranges} are allowed: use wider subnets, or rangeStart and rangeEnd`);
  }
  const sets = raw.map((set, i) => {
    if (set.length === 0) throw bad(`${where(i)} is empty: give it at least one range`);
    const ranges = set.map((r, j) => buildRange(r, `${where(i)}[${j}]`));
    const fam = ranges[0]!.family;
    const mixed = ranges.find((r) => r.family !== fam);
    if (mixed) throw bad(`${where(i)} mixes IPv4 and IPv6; put each family in its own range set`);
    return ranges;
  });
  const all = sets.flatMap((set, i) => set.map((r, j) => ({ r, at: `${where(i)}[${j}]` })));
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      if (overlaps(rangeSpan(all[a]!.r), rangeSpan(all[b]!.r))) {
        throw bad(`${all[a]!.at} overlaps ${all[b]!.at}; ranges must not share addresses`);
      }
    }
  }
  return sets;
}

/**
 * ipam.exclude as one set of addresses, merged once here so that no later search steps through it. It also
 * holds the IPv4-mapped block, which an IPv6 range such as ::/80 contains: an address there is an IPv4
 * address spelled again, and nothing in leasehold reads it back.
 */
export function buildExcludes(raw: string[]): SpanSet {
  if (raw.length > LIMITS.exclude) {
    throw bad(`ipam.exclude has ${raw.length} entries; at most ${LIMITS.exclude} are allowed: merge neighbouring entries into wider CIDRs`);
  }
  const spans: Span[] = raw.map((text, i) => {
    const c = parseAt(`ipam.exclude[${i}]`, text, parseCidrLoose);
    return { family: c.ip.family, first: networkOf(c), last: lastOf(c) };
  });
  return SpanSet.of([...spans, IPV4_MAPPED]);
}
