// Judging a network snapshot: integrity findings and leaks (check, gc), per-lease flags (list) and
// per-range usage (status, metrics). Pure functions over a snapshot plus the facts of this boot.
import { setContains } from '../allocator/allocate.js';
import { type Leak, findLeaks, isNetnsGone, isStaleBoot } from '../allocator/leaks.js';
import type { NetConf } from '../config/load.js';
import { formatCidr, formatIp, tryParseIp } from '../net/ip.js';
import { type Range, assignableCount, inRange } from '../net/range.js';
import type { Lease } from '../store/lease.js';
import { ownPart, ownership } from '../store/store.js';
import type { Facts } from './context.js';
import { duration, percent, shortId } from './format.js';
import { expiredHolds, reuseRows } from './holds.js';
import type { NetworkSnapshot } from './snapshot.js';

export type LeaseFlag = 'stale-boot' | 'netns-gone';

export type FindingKind =
  | 'state-unreadable'
  | 'cursor-ignored'
  | 'record-unreadable'
  | 'duplicate-address'
  | 'claim-missing'
  | 'outside-range'
  | 'stale-boot'
  | 'netns-gone'
  | 'not-imported'
  | 'orphan-claim'
  | 'index-missing'
  | 'index-orphan'
  | 'node-silent'
  | 'node-name-clash'
  | 'hold-expired';

export interface Finding {
  network: string;
  kind: FindingKind;
  detail: string;
  /** The addresses concerned (all of a lease's for lease findings); empty for unreadable files. */
  addresses: string[];
  containerID: string | null;
  ifname: string | null;
  path: string | null;
  /** Set when gc may free it (the leak rule says freeable). */
  leak?: Leak;
}

/** A finding with the fields it does not concern set to null. */
const finding = (f: Pick<Finding, 'network' | 'kind' | 'detail'> & Partial<Finding>): Finding => ({
  network: f.network,
  kind: f.kind,
  detail: f.detail,
  addresses: f.addresses ?? [],
  containerID: f.containerID ?? null,
  ifname: f.ifname ?? null,
  path: f.path ?? null,
  ...(f.leak ? { leak: f.leak } : {}),
});

/** Orders addresses numerically within a family, IPv4 first. */
export function compareAddresses(a: string | undefined, b: string | undefined): number {
  const [x, y] = [a ? tryParseIp(a) : undefined, b ? tryParseIp(b) : undefined];
  if (!x || !y) return String(a).localeCompare(String(b));
  return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
}

/** Leases before claims, each by address: the order check and gc report in. */
export function byLeak(a: Leak, b: Leak): number {
  const first = (l: Leak): string | undefined => l.lease?.addresses[0] ?? l.address;
  return Number(!a.lease) - Number(!b.lease) || compareAddresses(first(a), first(b));
}

const who = (l: { containerID: string; ifname: string }): string => `${shortId(l.containerID)}/${l.ifname}`;

/**
 * Flags shown next to a lease; a lease with any flag is one gc frees. In cluster mode (`me.node`) a lease this
 * name did not make on this machine gets none: this boot and this node's netns say nothing about it.
 */
export function leaseFlags(lease: Lease, facts: Facts, me: { node?: string; machine?: string | null }): LeaseFlag[] {
  const flags: LeaseFlag[] = [];
  if (me.node !== undefined && ownPart(me, [lease], []).leases.length === 0) return flags;
  if (isStaleBoot(lease, facts.bootId)) flags.push('stale-boot');
  if (isNetnsGone(lease, facts.netnsExists)) flags.push('netns-gone');
  return flags;
}

/** What this node may judge: everything on its own disk; in cluster mode its own leases only (see ownState). */
export const judgeable = (snap: NetworkSnapshot): Pick<NetworkSnapshot, 'leases' | 'claims'> => ownPart(snap, snap.leases, snap.claims);

/** The facts the leak rule gets for a snapshot: this boot, live netns, and whether leasehold has written here. */
export const leakFacts = (snap: NetworkSnapshot, facts: Facts): Facts => ({ ...facts, imported: snap.state.status !== 'missing' });

/** Leaks as the leak rule judges them; only those it calls freeable carry `leak` (what gc frees). */
export function leaks(snap: NetworkSnapshot, facts: Facts): Finding[] {
  const { leases, claims } = judgeable(snap);
  const found = findLeaks(leases, claims, leakFacts(snap, facts)).sort(byLeak);
  return found.map((leak): Finding => {
    const base = { network: snap.network, ...(leak.freeable ? { leak } : {}) };
    if (leak.lease) {
      const l = leak.lease;
      const detail =
        leak.reason === 'stale-boot'
          ? `lease of ${who(l)} (${l.addresses.join(', ')}) is from an earlier boot (${l.bootId})`
          : `lease of ${who(l)} (${l.addresses.join(', ')}): netns ${l.netns} no longer exists`;
      return finding({ ...base, kind: leak.reason as FindingKind, detail, containerID: l.containerID, ifname: l.ifname, addresses: l.addresses });
    }
    const address = leak.address!;
    const held = leak.holder ? ` (held for ${who(leak.holder)})` : '';
    const claim = { ...base, addresses: [address], ...leak.holder };
    if (leak.reason === 'not-imported') {
      return finding({ ...claim, kind: 'not-imported', detail: `host-local reservation ${address}${held} is not imported yet (leasehold import-host-local)` });
    }
    return leak.freeable
      ? finding({ ...claim, kind: 'orphan-claim', detail: `claim ${address}${held} has no lease record and predates this boot` })
      : finding({
          ...claim,
          kind: 'orphan-claim',
          detail: `claim ${address}${held} has no lease record; written in this boot, so gc keeps it: leasehold release ${address} --force once its holder is gone`,
        });
  });
}

/** Everything check reports for one network. */
export function findings(snap: NetworkSnapshot, facts: Facts, conf: NetConf | undefined): Finding[] {
  const net = snap.network;
  const out: Finding[] = [];
  if (snap.state.status === 'unreadable') {
    out.push(finding({ network: net, kind: 'state-unreadable', detail: `${snap.state.path} is unreadable: ${snap.state.why}`, path: snap.state.path }));
  }
  if (snap.state.status === 'ok') {
    for (const [set, text] of Object.entries(snap.state.ignoredCursors)) {
      out.push(
        finding({
          network: net,
          kind: 'cursor-ignored',
          detail: `round-robin cursor ${JSON.stringify(set)} = ${JSON.stringify(text)} is not an address; it is ignored and round-robin restarts at the range's start`,
        }),
      );
    }
  }
  for (const u of snap.unreadable) out.push(finding({ network: net, kind: 'record-unreadable', detail: `${u.path} is unreadable: ${u.why}`, path: u.path }));

  const holders = new Map<string, Lease[]>();
  for (const l of snap.leases) for (const a of l.addresses) holders.set(a, [...(holders.get(a) ?? []), l]);
  const claims = new Map(snap.claims.map((c) => [c.address, c.holder]));
  for (const [address, ls] of holders) {
    if (ls.length > 1) {
      out.push(
        finding({
          network: net,
          kind: 'duplicate-address',
          addresses: [address],
          detail: `${address} is in ${ls.length} lease records: ${ls.map(who).join(', ')}`,
        }),
      );
      continue;
    }
    const l = ls[0]!;
    const h = claims.get(address);
    if (!h || h.containerID !== l.containerID || h.ifname !== l.ifname) {
      const why = h ? `its claim names ${who(h)}` : 'its claim file is missing';
      out.push(
        finding({
          network: net,
          kind: 'claim-missing',
          addresses: [address],
          containerID: l.containerID,
          ifname: l.ifname,
          detail: `lease of ${who(l)} lists ${address}, but ${why}`,
        }),
      );
    }
  }

  if (conf) {
    for (const l of snap.leases) {
      for (const a of l.addresses) {
        const ip = tryParseIp(a);
        if (!ip || !conf.rangeSets.some((s) => setContains(s, ip))) {
          out.push(
            finding({
              network: net,
              kind: 'outside-range',
              addresses: [a],
              containerID: l.containerID,
              ifname: l.ifname,
              detail: `lease of ${who(l)} holds ${a}, outside every configured range`,
            }),
          );
        }
      }
    }
  }
  return [...out, ...nodeFindings(snap, facts), ...leaks(snap, facts), ...holdFindings(snap, facts)];
}

/** Holds whose end has passed and that nobody ended (the pod never came back): gc frees them. */
export function holdFindings(snap: NetworkSnapshot, facts: Facts): Finding[] {
  return expiredHolds(snap, facts.now).map((h) =>
    finding({
      network: snap.network,
      kind: 'hold-expired',
      addresses: h.addresses,
      containerID: h.containerID,
      ifname: h.ifname,
      detail: `hold of ${h.addresses.join(', ')} for pod ${h.namespace}/${h.name} (${h.ifname}) ended at ${h.until} and is not cleaned up yet; leasehold gc frees it`,
    }),
  );
}

/** Live held and cooling addresses of a range that no lease holds (a hold's address may be back in a lease). */
function reuseIn(snap: NetworkSnapshot, range: Range, now: number): { held: number; cooling: number } {
  const leased = new Set(snap.leases.flatMap((l) => l.addresses));
  const rows = reuseRows(snap, now).filter((r) => {
    const ip = tryParseIp(r.address);
    return r.live && ip !== undefined && inRange(range, ip) && !leased.has(r.address);
  });
  return { held: rows.filter((r) => r.kind === 'held').length, cooling: rows.filter((r) => r.kind === 'cooling').length };
}

/**
 * Cluster mode: records and the nodes' indexes must agree (one transaction writes both), no other machine
 * uses this node's name, and a node that holds leases but has not claimed or released for longer than
 * --silent-after may be gone for good.
 */
export function nodeFindings(snap: NetworkSnapshot, facts: Facts): Finding[] {
  const n = snap.nodes;
  if (!n) return [];
  const net = snap.network;
  const out: Finding[] = [];
  const key = (node: string | undefined, a: { containerID: string; ifname: string }): string => `${node}/${a.containerID}/${a.ifname}`;
  const indexed = new Set(n.index.map((e) => key(e.node, e)));
  const recorded = new Set(snap.leases.map((l) => key(l.node, l)));
  for (const l of snap.leases) {
    if (l.node === undefined || indexed.has(key(l.node, l))) continue;
    const detail = `lease of ${who(l)} (${l.addresses.join(', ')}) was made by node ${l.node}, whose index does not list it`;
    out.push(finding({ network: net, kind: 'index-missing', detail, containerID: l.containerID, ifname: l.ifname, addresses: l.addresses }));
  }
  // An unreadable record may be the one an index entry names: no entry is called orphaned then.
  if (snap.unreadable.length === 0) {
    for (const e of n.index) {
      if (recorded.has(key(e.node, e))) continue;
      const detail = `node ${e.node}'s index lists ${who(e)}, which has no lease record`;
      out.push(finding({ network: net, kind: 'index-orphan', detail, containerID: e.containerID, ifname: e.ifname }));
    }
  }
  // The pool's address keys naming this network with no record: nothing in leasehold writes one (a record and
  // its keys change in one transaction), so no rule frees it; an operator can, once its holder is known gone.
  const recordedAddresses = new Set(snap.leases.flatMap((l) => l.addresses));
  if (snap.unreadable.length === 0) {
    for (const c of snap.claims) {
      if (recordedAddresses.has(c.address)) continue;
      const holder = c.holder ? ` names ${who(c.holder)}, which has no lease record` : ' has no holder leasehold can read';
      const detail = `address key of ${c.address}${holder}; leasehold release ${c.address} --force frees it once that holder is gone`;
      out.push(finding({ network: net, kind: 'orphan-claim', detail, addresses: [c.address], ...c.holder }));
    }
  }
  // Leases made under this node's name on another machine: two machines share the name (ADD refuses the second).
  const me = snap.node;
  const clash = me === undefined ? [] : snap.leases.filter((l) => l.node === me && ownership(l, { node: me, machine: snap.machine ?? null }) === 'other');
  if (clash.length > 0) {
    const addresses = clash.flatMap((l) => l.addresses);
    const detail =
      `${clash.length} lease(s) (${addresses.join(', ')}) were made under this node's name ${me} by another machine; ` +
      'give every machine its own ipam.cluster.nodeName (this node frees none of them)';
    out.push(finding({ network: net, kind: 'node-name-clash', detail, addresses }));
  }
  const held = new Map<string, Lease[]>();
  for (const l of snap.leases) if (l.node !== undefined) held.set(l.node, [...(held.get(l.node) ?? []), l]);
  for (const [node, leases] of [...held].sort(([a], [b]) => a.localeCompare(b))) {
    const silence = silentFor(n.seen[node], facts);
    if (silence === null) continue;
    const addresses = leases.flatMap((l) => l.addresses);
    const detail =
      `node ${node} holds ${leases.length} lease(s) (${addresses.join(', ')}) and ${silence}; ` +
      `if it is gone for good, free them with leasehold release --node ${node}`;
    out.push(finding({ network: net, kind: 'node-silent', detail, addresses }));
  }
  return out;
}

/** How a node's silence reads, or null while it was seen within --silent-after. */
export function silentFor(seen: string | undefined, facts: Facts): string | null {
  if (seen === undefined) return 'has never been seen claiming or releasing';
  const age = facts.now - Date.parse(seen);
  return age > facts.silentAfterMs ? `was last seen ${duration(age)} ago (${seen})` : null;
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
