// Ranges after validation: every bound is a bigint in one family, so containment and overlap are integer compares.
import { type Cidr, type Family, type Ip, formatCidr, formatIp } from './ip.js';
import type { SpanSet } from './spans.js';

export interface Range {
  family: Family;
  /** The subnet with host bits cleared: the prefix length given to the container. */
  subnet: Cidr;
  /** First and last assignable addresses, inclusive. */
  start: bigint;
  end: bigint;
  gateway: bigint;
}

/** One address per range set; its ranges are tried in order. */
export type RangeSet = Range[];

/** An inclusive span of addresses that is never handed out. */
export interface Span {
  family: Family;
  first: bigint;
  last: bigint;
}

export const inRange = (r: Range, ip: Ip): boolean => ip.family === r.family && ip.value >= r.start && ip.value <= r.end;

export const inSpan = (s: Span, ip: Ip): boolean => ip.family === s.family && ip.value >= s.first && ip.value <= s.last;

export const overlaps = (a: { family: Family; first: bigint; last: bigint }, b: { family: Family; first: bigint; last: bigint }): boolean =>
  a.family === b.family && a.first <= b.last && b.first <= a.last;

export const rangeSpan = (r: Range): Span => ({ family: r.family, first: r.start, last: r.end });

export const describeRange = (r: Range): string =>
  `${formatCidr(r.subnet)} (${formatIp({ family: r.family, value: r.start })}-${formatIp({ family: r.family, value: r.end })})`;

export const rangeSize = (r: Range): bigint => r.end - r.start + 1n;

// What a range may hand out: start..end without its gateway and without ipam.exclude. The one rule, used by the
// allocator's search, STATUS, the windowed reads of cluster mode and the CLI's figures; each answer costs a
// binary search in the excluded spans, never a step per excluded address.

/** The first address of the range at or after `from` that may be handed out, or undefined if none is left. */
export function nextAssignable(range: Range, excluded: SpanSet, from: bigint): bigint | undefined {
  let v = excluded.nextOutside(range.family, from < range.start ? range.start : from);
  if (v === range.gateway) v = excluded.nextOutside(range.family, v + 1n);
  return v <= range.end ? v : undefined;
}

/** How many addresses of the range may be handed out. */
export function assignableCount(range: Range, excluded: SpanSet): bigint {
  const gatewayCounts = range.gateway >= range.start && range.gateway <= range.end && !excluded.has(range.family, range.gateway);
  return rangeSize(range) - excluded.countIn(range.family, range.start, range.end) - (gatewayCounts ? 1n : 0n);
}
