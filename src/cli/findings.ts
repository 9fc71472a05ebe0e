// Everything check reports for one network: integrity of records and claims, cluster-mode node findings, leaks
// and expired holds. Pure functions over a snapshot plus the facts of this boot.
import { setContains } from '../allocator/allocate.js';
import type { NetConf } from '../config/load.js';
import { tryParseIp } from '../net/ip.js';
import type { Lease } from '../store/lease.js';
import { ownership } from '../store/store.js';
import type { Facts } from './context.js';
import { type Finding, finding, who } from './finding.js';
import { duration } from './format.js';
import { expiredHolds } from './holds.js';
import { leaks } from './leak-view.js';
import type { NetworkSnapshot } from './snapshot.js';

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
