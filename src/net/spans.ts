// A set of addresses kept as sorted, merged spans, so that asking about it costs a binary search however many
// addresses it holds: ipam.exclude can take a /96 out of a /64, and stepping over such a span one address at a
// time is 2^32 steps under the network's lock.
import type { Family } from './ip.js';
import type { Span } from './range.js';

/** -1, 0 or 1 as (family, value) a sorts before, with or after b: IPv4 before IPv6. */
const order = (fa: Family, a: bigint, fb: Family, b: bigint): number => (fa !== fb ? fa - fb : a < b ? -1 : a > b ? 1 : 0);

export class SpanSet {
  /** Sorted by family, then first address; no two overlap or touch. */
  readonly spans: readonly Span[];
  /** below[i]: how many addresses spans[0..i-1] hold, so a count over many spans is two lookups. */
  private readonly below: bigint[];

  private constructor(spans: Span[]) {
    this.spans = spans;
    this.below = [0n];
    for (const s of spans) this.below.push(this.below[this.below.length - 1]! + (s.last - s.first + 1n));
  }

  static readonly EMPTY = new SpanSet([]);

  /** The union of the given spans (in any order, overlapping or not). */
  static of(spans: Iterable<Span>): SpanSet {
    // Operators list excludes in order, though perhaps one family's after the other's: each family is
    // checked in one pass and sorted only when out of order (a sort of 10,000 costs milliseconds).
    const before = (a: Span, b: Span): number => order(a.family, a.first, b.family, b.first);
    const inOrder = (xs: Span[]): Span[] => (xs.some((s, i) => i > 0 && before(xs[i - 1]!, s) > 0) ? xs.sort(before) : xs);
    const all = [...spans];
    const sorted = [...inOrder(all.filter((s) => s.family === 4)), ...inOrder(all.filter((s) => s.family === 6))];
    const merged: Span[] = [];
    for (const s of sorted) {
      const prev = merged[merged.length - 1];
      if (prev && prev.family === s.family && s.first <= prev.last + 1n) {
        if (s.last > prev.last) merged[merged.length - 1] = { ...prev, last: s.last };
      } else merged.push({ ...s });
    }
    return new SpanSet(merged);
  }

  /** How many spans start at or before (family, value). */
  private startingUpTo(family: Family, value: bigint): number {
    let lo = 0;
    let hi = this.spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.spans[mid]!;
      if (order(s.family, s.first, family, value) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The span holding (family, value), or undefined. */
  spanAt(family: Family, value: bigint): Span | undefined {
    const s = this.spans[this.startingUpTo(family, value) - 1];
    return s && s.family === family && value <= s.last ? s : undefined;
  }

  has(family: Family, value: bigint): boolean {
    return this.spanAt(family, value) !== undefined;
  }

  /** The first value at or after `value` that the set does not hold (spans never touch: one step at most). */
  nextOutside(family: Family, value: bigint): bigint {
    const s = this.spanAt(family, value);
    return s ? s.last + 1n : value;
  }

  /** How many addresses of first..last (inclusive) the set holds. */
  countIn(family: Family, first: bigint, last: bigint): bigint {
    if (first > last) return 0n;
    // Whole spans starting in first..last, then trim the part of the one holding `first` that lies before it
    // and the part of the last one that lies past `last`.
    const a = this.startingUpTo(family, first - 1n);
    const b = this.startingUpTo(family, last);
    let n = this.below[b]! - this.below[a]!;
    const before = this.spans[a - 1];
    if (before && before.family === family && before.last >= first) n += (before.last < last ? before.last : last) - first + 1n;
    const end = this.spans[b - 1];
    if (b > a && end && end.last > last) n -= end.last - last;
    return n;
  }
}
