// The allocation decision, with no I/O: the network's current leases come in through a read-only view,
// and the answer is either the addresses to record (one per range set) or the reason none can be given.
import { CniError, Code } from '../base/errors.js';
import { type Ip, formatIp } from '../net/ip.js';
import { type Range, type RangeSet, assignableCount, describeRange, inRange, nextAssignable, rangeSize } from '../net/range.js';
import type { SpanSet } from '../net/spans.js';
import { type ReuseFacts, ReuseRules, describeHeld, podName } from './reuse.js';

/** What the allocator may know about the network: whether an address is already leased or claimed by anyone. */
export interface LeaseView {
  isTaken(ip: Ip): boolean;
}

export interface AllocationRequest {
  rangeSets: RangeSet[];
  exclude: SpanSet;
  /** The last address handed out in each range set, for round-robin. */
  cursors: ReadonlyArray<Ip | undefined>;
  /** Addresses the runtime asked for. */
  requested: Ip[];
  /** Addresses this attachment leases already (a repeated ADD): reused, never doubled. */
  alreadyLeased: Ip[];
  /** Holds of deleted pods' addresses and cooling addresses (reuse.ts); none when absent. */
  reuse?: ReuseFacts;
}

export interface AddressPick {
  rangeSet: number;
  range: Range;
  ip: Ip;
  /** True when this ADD claims the address; false when the attachment leased it already. */
  isNew: boolean;
}

export interface Allocation {
  picks: AddressPick[];
  cursors: Array<Ip | undefined>;
}

export const setContains = (set: RangeSet, ip: Ip): Range | undefined => set.find((r) => inRange(r, ip));

const same = (a: Ip, b: Ip): boolean => a.family === b.family && a.value === b.value;

/** Why an address in a range can never be handed out, or null if it can. */
export function reservedReason(range: Range, exclude: SpanSet, ip: Ip): string | null {
  if (ip.value === range.gateway) return 'is the gateway';
  if (exclude.has(ip.family, ip.value)) return 'is excluded by ipam.exclude';
  return null;
}

/** A stretch of one range, first..last inclusive, in the order the allocator walks. */
export interface SearchSpan {
  range: Range;
  first: bigint;
  last: bigint;
}

/**
 * The order the allocator tries a set's addresses in, as spans: after the cursor to the end of its range, the
 * other ranges in order, then back round to the cursor. Every address of the set once. A store that reads
 * taken addresses a window at a time (cluster mode) reads them in this order.
 */
export function searchSpans(set: RangeSet, cursor: Ip | undefined): SearchSpan[] {
  const k = cursor ? set.findIndex((r) => inRange(r, cursor)) : -1;
  if (k < 0) return set.map((range) => ({ range, first: range.start, last: range.end }));
  const home = set[k]!;
  const at = cursor!.value;
  const spans: SearchSpan[] = [];
  if (at < home.end) spans.push({ range: home, first: at + 1n, last: home.end });
  for (let n = 1; n < set.length; n++) {
    const range = set[(k + n) % set.length]!;
    spans.push({ range, first: range.start, last: range.end });
  }
  spans.push({ range: home, first: home.start, last: at });
  return spans;
}

/**
 * The first address of the span the allocator may hand out, by the view; undefined if none. Excluded spans are
 * jumped over, so the steps are the assignable addresses the view says are taken, plus one.
 */
export function firstFreeIn(s: SearchSpan, exclude: SpanSet, view: LeaseView): Ip | undefined {
  for (let v = nextAssignable(s.range, exclude, s.first); v !== undefined && v <= s.last; v = nextAssignable(s.range, exclude, v + 1n)) {
    const ip = { family: s.range.family, value: v };
    if (!view.isTaken(ip)) return ip;
  }
  return undefined;
}

function firstFree(set: RangeSet, exclude: SpanSet, cursor: Ip | undefined, view: LeaseView): { range: Range; ip: Ip } | undefined {
  for (const span of searchSpans(set, cursor)) {
    const ip = firstFreeIn(span, exclude, view);
    if (ip) return { range: span.range, ip };
  }
  return undefined;
}

/** The view with other pods' held addresses taken too, and (unless `cooled`) the cooling ones. */
const skipping = (view: LeaseView, rules: ReuseRules, cooled: boolean): LeaseView => ({
  isTaken: (ip) => view.isTaken(ip) || rules.holdOn(ip) !== undefined || (!cooled && rules.isCooling(ip)),
});

/**
 * Round-robin over what is neither taken, reserved, held for another pod nor cooling; when only cooling
 * addresses are left, the one whose cooldown ends first (a cooldown never makes an ADD fail or wait).
 */
function firstUsable(set: RangeSet, exclude: SpanSet, cursor: Ip | undefined, view: LeaseView, rules: ReuseRules): { range: Range; ip: Ip } | undefined {
  const got = firstFree(set, exclude, cursor, skipping(view, rules, false));
  if (got) return got;
  const usable = skipping(view, rules, true);
  for (const ip of rules.coolingIn(set)) {
    const range = setContains(set, ip)!;
    if (reservedReason(range, exclude, ip) === null && !usable.isTaken(ip)) return { range, ip };
  }
  return undefined;
}

export function allocate(req: AllocationRequest, view: LeaseView): Allocation {
  const { rangeSets, exclude } = req;
  const rules = new ReuseRules(req.reuse);
  const wanted = new Map<number, Ip>();
  for (const ip of req.requested) {
    const i = rangeSets.findIndex((s) => setContains(s, ip));
    if (i < 0)
      throw new CniError(
        Code.AddressUnavailable,
        `requested address ${formatIp(ip)} is not in any configured range; ask for one inside ${rangeSets.map((s) => s.map(describeRange).join(' or ')).join(', ')}`,
      );
    const other = wanted.get(i);
    if (other)
      throw new CniError(
        Code.AddressUnavailable,
        `requested addresses ${formatIp(other)} and ${formatIp(ip)} fall in the same range set; one address per range set is given`,
      );
    wanted.set(i, ip);
  }

  const picks: AddressPick[] = [];
  const cursors = [...req.cursors];
  rangeSets.forEach((set, i) => {
    const leased = req.alreadyLeased.find((h) => setContains(set, h));
    const want = wanted.get(i);
    if (leased) {
      if (want && !same(want, leased)) {
        throw new CniError(Code.AddressUnavailable, `this attachment already holds ${formatIp(leased)}; DEL it before asking for ${formatIp(want)}`);
      }
      picks.push({ rangeSet: i, range: setContains(set, leased)!, ip: leased, isNew: false });
      return;
    }
    if (want) {
      const range = setContains(set, want)!;
      const hold = rules.holdOn(want);
      const why =
        reservedReason(range, exclude, want) ??
        (hold ? `is held for pod ${podName(hold)} until ${hold.until} (ipam.sticky)` : view.isTaken(want) ? 'is already leased' : null);
      if (why) throw new CniError(Code.AddressUnavailable, `requested address ${formatIp(want)} ${why}; ask for another address or none`);
      picks.push({ rangeSet: i, range, ip: want, isNew: true });
      return;
    }
    // The pod's own hold: its address comes back when nobody took it meanwhile (the cursor stays).
    const back = rules.own.find((ip) => {
      const range = setContains(set, ip);
      return range !== undefined && reservedReason(range, exclude, ip) === null && !view.isTaken(ip);
    });
    if (back) {
      picks.push({ rangeSet: i, range: setContains(set, back)!, ip: back, isNew: true });
      return;
    }
    const got = firstUsable(set, exclude, cursors[i], view, rules);
    if (!got) {
      const size = set.reduce((n, r) => n + assignableCount(r, exclude), 0n);
      const held = rules.heldIn(set);
      throw new CniError(
        Code.RangeExhausted,
        `no IP addresses available in range set ${set.map(describeRange).join(', ')}: all ${size} usable addresses (without the gateway and ipam.exclude) are leased${held.count > 0 ? ' or held' : ''}${describeHeld(held)}; ` +
          'run `leasehold list --stale` to find leaked leases and `leasehold gc` to free them, or widen the range',
      );
    }
    cursors[i] = got.ip;
    picks.push({ rangeSet: i, range: got.range, ip: got.ip, isNew: true });
  });
  return { picks, cursors };
}

/** True when the range set still has an address to give a new pod (STATUS); a cooling one counts. */
export function hasFreeAddress(set: RangeSet, exclude: SpanSet, cursor: Ip | undefined, view: LeaseView, reuse?: ReuseFacts): boolean {
  return firstUsable(set, exclude, cursor, view, new ReuseRules(reuse)) !== undefined;
}

/**
 * A cursor `by` addresses further round the set than `cursor` (wrapping over its ranges in order): where a
 * writer that shares the range with others starts its search, so that writers do not all race for the
 * address after one shared cursor.
 */
export function shiftCursor(set: RangeSet, cursor: Ip | undefined, by: bigint): Ip {
  const size = set.reduce((n, r) => n + rangeSize(r), 0n);
  // The cursor's position in the set, counted from the first range's start (before it when there is none).
  let at = size - 1n;
  let seen = 0n;
  for (const r of set) {
    if (cursor && inRange(r, cursor)) at = seen + (cursor.value - r.start);
    seen += rangeSize(r);
  }
  let pos = (at + (by % size)) % size;
  for (const r of set) {
    if (pos < rangeSize(r)) return { family: r.family, value: r.start + pos };
    pos -= rangeSize(r);
  }
  throw new Error('unreachable: the position is inside the set');
}

/** The widest a writer's start may be set past the shared cursor. */
const SPREAD_MAX = 64n;

/**
 * Where a writer that shares the range with others (a node of a cluster pool, or an ADD that lost a race)
 * starts its search: a `key`-derived distance past the shared cursor, so writers do not all race for one
 * address, but within a quarter of the set (at most 64), so the address the cursor stands on (the one handed
 * out last, perhaps freed since) is not handed out again while the rest of the set has room: round-robin holds.
 */
export function spreadStart(set: RangeSet, cursor: Ip | undefined, key: string): Ip {
  const quarter = set.reduce((n, r) => n + rangeSize(r), 0n) / 4n;
  const window = quarter < 1n ? 1n : quarter > SPREAD_MAX ? SPREAD_MAX : quarter;
  return shiftCursor(set, cursor, spreadOf(key) % window);
}

/** A well-spread number from a string (FNV-1a), so each node and each retry starts elsewhere. */
export function spreadOf(text: string): bigint {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return BigInt(h);
}
