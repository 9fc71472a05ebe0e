// Usage figures: per-range usage (status, metrics) and the per-network summary status and metrics show.
import { setContains } from '../allocator/allocate.js';
import type { NetConf } from '../config/load.js';
import { formatCidr, formatIp, tryParseIp } from '../net/ip.js';
import { type Range, assignableCount, inRange } from '../net/range.js';
import type { Lease } from '../store/lease.js';
import type { Facts } from './context.js';
import { percent } from './format.js';
import { expiredHolds, reuseRows } from './holds.js';
import { leaks } from './leak-view.js';
import { leaseFlags } from './lease-flags.js';
import type { NetworkSnapshot } from './snapshot.js';

/** Live held and cooling addresses of a range that no lease holds (a hold's address may be back in a lease). */
function reuseIn(snap: NetworkSnapshot, range: Range, now: number): { held: number; cooling: number } {
  const leased = new Set(snap.leases.flatMap((l) => l.addresses));
  const rows = reuseRows(snap, now).filter((r) => {
    const ip = tryParseIp(r.address);
    return r.live && ip !== undefined && inRange(range, ip) && !leased.has(r.address);
  });
  return { held: rows.filter((r) => r.kind === 'held').length, cooling: rows.filter((r) => r.kind === 'cooling').length };
}

export interface RangeUsage {
  rangeSet: number;
  subnet: string;
  start: string;
  end: string;
  /** Addresses that can be handed out: start..end without the gateway and ipam.exclude. */
  size: bigint;
  leased: number;
  free: bigint;
  usedPercent: number;
  /** The set's round-robin cursor, shown on the range that contains it. */
  lastHandedOut: string | null;
  oldestLease: string | null;
  staleBoot: number;
  /** Leases gc would free: from an earlier boot or with their netns gone. */
  stale: number;
  /** Free addresses held for deleted pods (not in `free`), and free ones cooling (in `free`: ADD takes them last). */
  held: number;
  cooling: number;
}

/** When the oldest of these leases was made (a record's own time; unreadable times are passed over), or null. */
const oldestCreatedAt = (leases: Lease[]): string | null =>
  leases
    .map((l) => l.createdAt)
    .filter((t) => !Number.isNaN(Date.parse(t)))
    .sort()[0] ?? null;

export interface Usage {
  ranges: RangeUsage[];
  /** Leased addresses outside every configured range. */
  outside: number;
}

export function usage(snap: NetworkSnapshot, conf: NetConf, facts: Facts): Usage {
  const cursors = snap.state.status === 'ok' ? snap.state.value.cursors : {};
  const placed = snap.leases.flatMap((lease) => {
    const flags = leaseFlags(lease, facts, snap);
    return lease.addresses.flatMap((a) => {
      const ip = tryParseIp(a);
      return ip ? [{ ip, lease, flags }] : [];
    });
  });
  const ranges = conf.rangeSets.flatMap((set, i) =>
    set.map((r): RangeUsage => {
      const here = placed.filter((p) => inRange(r, p.ip));
      const size = assignableCount(r, conf.exclude);
      const reuse = reuseIn(snap, r, facts.now);
      const free = size - BigInt(here.length) - BigInt(reuse.held);
      const cursor = cursors[String(i)];
      const cursorIp = cursor ? tryParseIp(cursor) : undefined;
      const oldest = oldestCreatedAt(here.map((p) => p.lease));
      return {
        rangeSet: i,
        subnet: formatCidr(r.subnet),
        start: formatIp({ family: r.family, value: r.start }),
        end: formatIp({ family: r.family, value: r.end }),
        size,
        leased: here.length,
        free: free < 0n ? 0n : free,
        usedPercent: percent(BigInt(here.length), size),
        lastHandedOut: cursorIp && inRange(r, cursorIp) ? cursor! : null,
        oldestLease: oldest,
        staleBoot: here.filter((p) => p.flags.includes('stale-boot')).length,
        stale: here.filter((p) => p.flags.length > 0).length,
        held: reuse.held,
        cooling: reuse.cooling,
      };
    }),
  );
  const outside = placed.filter((p) => !conf.rangeSets.some((s) => setContains(s, p.ip))).length;
  return { ranges, outside };
}

export const FULL_PERCENT = 90;

export interface NetworkSummary {
  network: string;
  /** The config file the ranges come from, or null when none was found. */
  config: string | null;
  state: 'ok' | 'missing' | 'unreadable';
  stateError?: string;
  leases: number;
  addresses: number;
  staleBoot: number;
  netnsGone: number;
  /** Addresses of leases with either flag (what gc frees, claims aside). */
  staleAddresses: number;
  orphanClaims: number;
  notImported: number;
  unreadableRecords: number;
  /** null without a config. */
  outsideRanges: number | null;
  oldestLease: string | null;
  cursors: Record<string, string>;
  ranges: RangeUsage[];
  /** Addresses held for deleted pods, and cooling, whose end has not passed; holds that have (gc frees them). */
  held: number;
  cooling: number;
  expiredHolds: number;
}

export function summarize(snap: NetworkSnapshot, facts: Facts, conf: { file: string; conf: NetConf } | undefined): NetworkSummary {
  const flags = snap.leases.map((l) => leaseFlags(l, facts, snap));
  const claimLeaks = leaks(snap, facts).filter((f) => !f.leak?.lease);
  const use = conf ? usage(snap, conf.conf, facts) : undefined;
  const rows = reuseRows(snap, facts.now);
  return {
    network: snap.network,
    config: conf?.file ?? null,
    state: snap.state.status,
    ...(snap.state.status === 'unreadable' ? { stateError: snap.state.why } : {}),
    leases: snap.leases.length,
    addresses: snap.leases.reduce((n, l) => n + l.addresses.length, 0),
    staleBoot: flags.filter((f) => f.includes('stale-boot')).length,
    netnsGone: flags.filter((f) => f.includes('netns-gone')).length,
    staleAddresses: snap.leases.reduce((n, l, i) => n + (flags[i]!.length > 0 ? l.addresses.length : 0), 0),
    orphanClaims: claimLeaks.filter((f) => f.kind === 'orphan-claim').length,
    notImported: claimLeaks.filter((f) => f.kind === 'not-imported').length,
    unreadableRecords: snap.unreadable.length,
    outsideRanges: use ? use.outside : null,
    oldestLease: oldestCreatedAt(snap.leases),
    cursors: snap.state.status === 'ok' ? snap.state.value.cursors : {},
    ranges: use?.ranges ?? [],
    held: rows.filter((r) => r.live && r.kind === 'held').length,
    cooling: rows.filter((r) => r.live && r.kind === 'cooling').length,
    expiredHolds: expiredHolds(snap, facts.now).length,
  };
}
