// The transactions cluster mode changes etcd with. Each keeps the lease record, its address keys and the
// node's index in step, all or nothing, and guards every key it touches with a compare, so a retried, late or
// duplicated request can never take or free what is not its own.
import type { Compare, KeyValue, RequestOp, ResponseOp, TxnRequest, TxnResponse } from '../../etcd/kv-types.js';
import type { Attachment } from '../../base/ids.js';
import { isoTime } from '../../base/proc.js';
import { parseIp } from '../../net/ip.js';
import type { Hold } from '../../allocator/reuse.js';
import { decodeHold, encodeHold } from '../hold.js';
import { type Lease, decodeLease, encodeLease } from '../lease.js';
import { STATE_FORMAT, encodeState } from '../state.js';
import { type ClusterLayout, type Holder, decodeHolder, encodeHolder, encodeSeen } from './layout.js';

/** etcd's default --max-txn-ops: the most operations one branch (or the compare list) may hold. */
export const MAX_TXN_OPS = 128;

/** A lease record as etcd holds it, with the revisions that guard later changes. */
export interface StoredLease {
  lease: Lease;
  /** The revision of the txn that created the record: identifies this incarnation of the attachment. */
  createRevision: bigint;
  modRevision: bigint;
}

export function decodeStored(kv: KeyValue): StoredLease | string {
  const lease = decodeLease(kv.value);
  return typeof lease === 'string' ? lease : { lease, createRevision: kv.createRevision, modRevision: kv.modRevision };
}

/** A hold record as etcd holds it, with the revision that guards its end. */
export interface StoredHold {
  hold: Hold;
  modRevision: bigint;
}

export function decodeStoredHold(kv: KeyValue): StoredHold | string {
  const hold = decodeHold(kv.value);
  return typeof hold === 'string' ? hold : { hold, modRevision: kv.modRevision };
}

const created = (key: string, value: bigint | number): Compare => ({ key, target: 'CREATE', result: 'EQUAL', value });
const modified = (key: string, value: bigint): Compare => ({ key, target: 'MOD', result: 'EQUAL', value });
const valueIs = (key: string, value: string): Compare => ({ key, target: 'VALUE', result: 'EQUAL', value });

function checkSize(what: string, t: TxnRequest): TxnRequest {
  const most = Math.max(t.compare.length, t.success.length, t.failure?.length ?? 0);
  if (most > MAX_TXN_OPS) throw new Error(`${what} needs ${most} operations in one etcd txn; etcd allows ${MAX_TXN_OPS}`);
  return t;
}

const rangeOf = (op: ResponseOp | undefined): KeyValue | undefined => (op && 'range' in op ? op.range.kvs[0] : undefined);

export interface ClaimPlan {
  lease: Lease;
  /** The attachment's record as read before allocating (a repeated ADD), or none. */
  previous?: StoredLease;
  /** Round-robin positions to store with the claim. */
  cursors?: Record<string, string>;
  /**
   * The claiming node's machine (NodeIdentity): the claim holds only while the node's name is this machine's.
   * `registered`: the name's machine key was there when last read; if not, this claim writes it.
   */
  machine?: { id: string; registered: boolean };
  /** The pod's own hold, which the claim ends: its addresses are taken over from it, the rest freed. */
  hold?: StoredHold;
}

/**
 * The addresses of a claim in key form: those to create, those taken over from the pod's hold (their keys
 * name the hold), and those the previous record holds.
 */
function claimKeys(layout: ClusterLayout, plan: ClaimPlan): { unclaimed: string[]; fromHold: string[]; ours: string[] } {
  const before = new Set(plan.previous?.lease.addresses ?? []);
  const holding = new Set(plan.hold?.hold.addresses ?? []);
  const unclaimed: string[] = [];
  const fromHold: string[] = [];
  const ours: string[] = [];
  for (const a of plan.lease.addresses) (before.has(a) ? ours : holding.has(a) ? fromHold : unclaimed).push(layout.addressKey(parseIp(a)));
  return { unclaimed, fromHold, ours };
}

/** Deletes each address key while it still names the hold: what a hold kept and nobody took back. */
const freeHeld = (layout: ClusterLayout, hold: Hold, addresses: string[]): RequestOp[] =>
  addresses.map((a) => {
    const key = layout.addressKey(parseIp(a));
    return { txn: { compare: [valueIs(key, layout.holdMarker(hold))], success: [{ deleteRange: { key } }] } };
  });

/**
 * One txn that records the lease and claims its addresses:
 *   compare  record CREATE == 0 (new attachment) or MOD == previous.modRevision (repeated ADD);
 *            every new address key CREATE == 0, or names the pod's hold when taken over from it; every
 *            address kept from `previous` still holds this attachment; the node's machine key names this
 *            machine (or, not registered yet, does not exist); the pod's hold MOD as read
 *   success  put record, put each new address key (value: its holder), put the node's index entry and its
 *            seen time, put cursors, delete each new address's cooling key, and the machine key when not
 *            registered yet; delete the hold, and free what it kept that the lease does not take
 *   failure  read the record, every address key, the machine key and the hold, to say what went wrong
 *            (claimOutcome)
 * Of two nodes that take over one hold, one commits: the other's compare on the hold fails.
 */
export function claimTxn(layout: ClusterLayout, plan: ClaimPlan, at = isoTime()): TxnRequest {
  const { lease, previous, hold } = plan;
  const record = layout.leaseKey(lease);
  const holder = encodeHolder(layout.holder(lease));
  const { unclaimed, fromHold, ours } = claimKeys(layout, plan);
  const taking = new Set([...unclaimed, ...fromHold]);
  const success: RequestOp[] = [
    { put: { key: record, value: encodeLease(lease) } },
    ...[...taking].map((key) => ({ put: { key, value: holder } })),
    { put: { key: layout.nodeIndexKey(lease), value: '' } },
    { put: { key: layout.seenKey(), value: encodeSeen(at) } },
    ...lease.addresses.filter((a) => taking.has(layout.addressKey(parseIp(a)))).map((a) => ({ deleteRange: { key: layout.coolingKey(parseIp(a)) } })),
  ];
  const { machine } = plan;
  if (machine && !machine.registered) success.push({ put: { key: layout.machineKey(), value: machine.id } });
  if (plan.cursors)
    success.push({ put: { key: layout.stateKey(), value: encodeState({ format: STATE_FORMAT, network: layout.names.network, cursors: plan.cursors }) } });
  if (hold) {
    success.push(
      { deleteRange: { key: layout.holdKey(hold.hold) } },
      ...freeHeld(
        layout,
        hold.hold,
        hold.hold.addresses.filter((a) => !lease.addresses.includes(a)),
      ),
    );
  }
  const machineKey = machine ? [layout.machineKey()] : [];
  return checkSize(`claiming ${lease.addresses.length} addresses`, {
    compare: [
      previous ? modified(record, previous.modRevision) : created(record, 0),
      ...unclaimed.map((k) => created(k, 0)),
      ...fromHold.map((k) => valueIs(k, layout.holdMarker(hold!.hold))),
      ...ours.map((k) => valueIs(k, holder)),
      ...machineKey.map((k) => (machine!.registered ? valueIs(k, machine!.id) : created(k, 0))),
      ...(hold ? [modified(layout.holdKey(hold.hold), hold.modRevision)] : []),
    ],
    success,
    failure: [record, ...unclaimed, ...fromHold, ...ours, ...machineKey, ...(hold ? [layout.holdKey(hold.hold)] : [])].map((key) => ({ range: { key } })),
  });
}

export type ClaimOutcome =
  | { status: 'claimed'; stored: StoredLease }
  /** This very claim had committed already (an earlier attempt whose answer was lost). */
  | { status: 'already-ours'; stored: StoredLease }
  /** The attachment's record is not as expected: it exists (a repeated ADD), or changed since it was read. */
  | { status: 'record-changed'; current: KeyValue | undefined }
  /** Another attachment holds this address (or the key holds something unreadable: holder undefined). */
  | { status: 'taken'; address: string; holder: Holder | undefined }
  /** The node name's machine key is not as the plan expected, but may be this machine's: claim again with `registered`. */
  | { status: 'registration'; registered: boolean }
  /** Another machine uses the node's name: nothing of this name is this machine's to claim. */
  | { status: 'name-in-use'; machine: string };

export function claimOutcome(layout: ClusterLayout, plan: ClaimPlan, r: TxnResponse): ClaimOutcome {
  const { lease, previous } = plan;
  if (r.succeeded) {
    return { status: 'claimed', stored: { lease, createRevision: previous?.createRevision ?? r.header.revision, modRevision: r.header.revision } };
  }
  const record = rangeOf(r.responses[0]);
  const { unclaimed, fromHold, ours } = claimKeys(layout, plan);
  const keys = [...unclaimed, ...fromHold, ...ours];
  if (plan.machine) {
    const kv = rangeOf(r.responses[keys.length + 1]);
    if (kv !== undefined && kv.value !== plan.machine.id) return { status: 'name-in-use', machine: kv.value };
    if ((kv !== undefined) !== plan.machine.registered) return { status: 'registration', registered: kv !== undefined };
  }
  // Same bytes, createdAt included: only this claim can have written them.
  if (record && record.value === encodeLease(lease))
    return { status: 'already-ours', stored: { lease, createRevision: record.createRevision, modRevision: record.modRevision } };
  if (previous ? record?.modRevision !== previous.modRevision : record !== undefined) return { status: 'record-changed', current: record };
  const mine = encodeHolder(layout.holder(lease));
  for (const [i, key] of keys.entries()) {
    const kv = rangeOf(r.responses[i + 1]);
    const lost =
      i < unclaimed.length ? kv !== undefined : i < unclaimed.length + fromHold.length ? kv?.value !== layout.holdMarker(plan.hold!.hold) : kv?.value !== mine;
    if (lost) return { status: 'taken', address: layout.describeAddressKey(key), holder: kv ? decodeHolder(kv.value) : undefined };
  }
  // The hold was taken over or ended meanwhile (another node's ADD of the pod): choose again without it.
  if (plan.hold && rangeOf(r.responses[keys.length + (plan.machine ? 2 : 1)])?.modRevision !== plan.hold.modRevision) {
    return { status: 'taken', address: plan.hold.hold.addresses[0] ?? layout.holdKey(plan.hold.hold), holder: undefined };
  }
  // Every compare read back as passing: the keys changed again between the txn and its failure reads.
  return { status: 'record-changed', current: record };
}

export interface ReleasePlan {
  attachment: Attachment;
  /** The incarnation to free: the record's createRevision when it was read (or when this node claimed it). */
  createRevision: bigint;
  addresses: string[];
  /** The node whose index holds the attachment (default: the layout's). */
  node?: string;
  /** A journaled release: the record's modRevision when DEL read it. A record changed since is not freed. */
  modRevision?: bigint;
  /** ipam.sticky: the hold the release leaves for the pod, and the pod's hold it replaces (as read), if any. */
  hold?: { hold: Hold; previous?: StoredHold };
  /** ipam.reuseCooldownSeconds: freed addresses cool until then (not with a hold). */
  coolUntil?: string;
}

/**
 * One txn that frees an attachment, only if its record is still the incarnation `createRevision` names (a late
 * DEL never frees a newer ADD of the same container and interface):
 *   compare  record CREATE == createRevision (and MOD == modRevision, when the plan names one; and, with a
 *            hold, the pod's hold MOD as read, or CREATE == 0)
 *   success  delete record, delete the node's index entry, put the acting node's seen time, and per address
 *            a nested txn that, only while the address key still names this attachment (an address reused
 *            meanwhile stays), deletes it (and puts its cooling key), or with a hold makes it name the hold;
 *            with a hold, put the hold and free what the pod's hold it replaces kept and this one does not
 *   failure  read the record (gone: an earlier DEL won; other revision: a newer ADD) and the hold
 * A repeated release finds no record of that incarnation, so it never extends a hold or a cooldown.
 */
export function releaseTxn(layout: ClusterLayout, plan: ReleasePlan, at = isoTime()): TxnRequest {
  const record = layout.leaseKey(plan.attachment);
  const holder = encodeHolder(layout.holder(plan.attachment));
  const hold = plan.hold?.hold;
  const holdKey = hold && layout.holdKey(hold);
  const before = plan.hold?.previous;
  const success: RequestOp[] = [
    { deleteRange: { key: record } },
    { deleteRange: { key: layout.nodeIndexKey(plan.attachment, plan.node) } },
    // The node that acts, which for an operator's release of a dead node's lease is not that node.
    { put: { key: layout.seenKey(), value: encodeSeen(at) } },
    ...plan.addresses.map((a) => {
      const ip = parseIp(a);
      const key = layout.addressKey(ip);
      const then: RequestOp[] = hold
        ? [{ put: { key, value: layout.holdMarker(hold) } }]
        : [{ deleteRange: { key } }, ...(plan.coolUntil ? [{ put: { key: layout.coolingKey(ip), value: plan.coolUntil } }] : [])];
      return { txn: { compare: [valueIs(key, holder)], success: then } };
    }),
  ];
  if (hold && holdKey) {
    success.push(
      { put: { key: holdKey, value: encodeHold(hold) } },
      ...freeHeld(
        layout,
        hold,
        (before?.hold.addresses ?? []).filter((a) => !plan.addresses.includes(a)),
      ),
    );
  }
  return checkSize(`releasing ${plan.addresses.length} addresses`, {
    compare: [
      created(record, plan.createRevision),
      ...(plan.modRevision === undefined ? [] : [modified(record, plan.modRevision)]),
      ...(holdKey ? [before ? modified(holdKey, before.modRevision) : created(holdKey, 0)] : []),
    ],
    success,
    failure: [{ range: { key: record } }, ...(holdKey ? [{ range: { key: holdKey } }] : [])],
  });
}

export type ReleaseOutcome =
  | { status: 'released'; freed: string[] }
  /** No record: released before (a repeated DEL). Nothing changed. */
  | { status: 'gone' }
  /** The record is a newer incarnation (a new ADD of the same attachment). Nothing changed. */
  | { status: 'replaced'; current: KeyValue }
  /** The pod's hold changed since it was read (another release of the pod). Nothing changed; read it again. */
  | { status: 'hold-changed' };

export function releaseOutcome(plan: ReleasePlan, r: TxnResponse): ReleaseOutcome {
  if (!r.succeeded) {
    const record = rangeOf(r.responses[0]);
    const same = record?.createRevision === plan.createRevision && (plan.modRevision === undefined || record.modRevision === plan.modRevision);
    if (plan.hold && same) return { status: 'hold-changed' };
    return record ? { status: 'replaced', current: record } : { status: 'gone' };
  }
  const freed = plan.addresses.filter((_, i) => {
    const op = r.responses[i + 3];
    return op !== undefined && 'txn' in op && op.txn.succeeded;
  });
  return { status: 'released', freed };
}

/** Ends a hold as read: deletes it and frees what it kept (keys that still name it). */
export function endHoldTxn(layout: ClusterLayout, stored: StoredHold): TxnRequest {
  const key = layout.holdKey(stored.hold);
  return checkSize(`ending the hold of ${stored.hold.addresses.length} addresses`, {
    compare: [modified(key, stored.modRevision)],
    success: [{ deleteRange: { key } }, ...freeHeld(layout, stored.hold, stored.hold.addresses)],
  });
}

/**
 * Deletes an address key that no record owns (a claim left by a tool or an interrupted migration): only while
 * it still names `holder` and that holder has no record.
 */
export function orphanRemovalTxn(layout: ClusterLayout, address: string, holder: Holder): TxnRequest {
  const key = layout.addressKey(parseIp(address));
  return { compare: [valueIs(key, encodeHolder(holder)), created(layout.leaseKey(holder, holder.network), 0)], success: [{ deleteRange: { key } }] };
}
