// One network's view of its pool in etcd: reads and the guarded transactions of txns.ts, with etcd's failures
// turned into CNI errors. The cluster store builds the Store interface on these.
import { CniError, Code } from '../../base/errors.js';
import type { Attachment } from '../../base/ids.js';
import type { EtcdClient } from '../../etcd/client.js';
import type { KeyValue } from '../../etcd/kv-types.js';
import { EtcdRequestError, EtcdUnavailableError } from '../../etcd/errors.js';
import { prefixEnd } from '../../etcd/keys.js';
import type { Cooling, Hold, HoldKey } from '../../allocator/reuse.js';
import { type Family, type Ip, formatIp } from '../../net/ip.js';
import { decodeCoolingEnd } from '../hold.js';
import type { NodeFacts } from '../store.js';
import { type ClusterLayout, decodeSeen } from './layout.js';
import {
  type ClaimOutcome,
  type ClaimPlan,
  type ReleaseOutcome,
  type ReleasePlan,
  type StoredHold,
  type StoredLease,
  claimOutcome,
  claimTxn,
  decodeStored,
  decodeStoredHold,
  endHoldTxn,
  releaseOutcome,
  releaseTxn,
} from './txns.js';

/**
 * etcd's failures as the user sees them: unreachable is "try again later" (11) naming each endpoint; a refusal
 * for credentials or permissions is a configuration error (7).
 */
export function cniErrorOf(e: unknown, what: string): unknown {
  if (e instanceof EtcdUnavailableError) {
    const applied = e.outcome === 'unknown' ? ' It may have been applied; the next call reads it back.' : ' Nothing was changed.';
    return new CniError(
      Code.TryAgainLater,
      `${what}: ${e.message}.${applied} Check that etcd has a quorum and that this node reaches ${e.endpoints.join(', ')}`,
      e.endpoints.join(','),
    );
  }
  if (e instanceof EtcdRequestError) {
    const credentials = e.httpStatus === 401 || e.httpStatus === 403 || /auth|permission|CommonName/i.test(e.etcdMessage);
    return credentials
      ? new CniError(
          Code.InvalidConfig,
          `${what}: ${e.message}. Check cluster.etcd username, passwordFile and certificates, and that the user's role may read and write under the prefix`,
          e.endpoint,
        )
      : new CniError(Code.IoFailure, `${what}: ${e.message}`, e.endpoint);
  }
  return e;
}

/** Runs one etcd call, its failure turned into the CNI error a user sees. */
export async function etcdCall<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw cniErrorOf(e, what);
  }
}

export interface Snapshot {
  /** The attachment's record; a string says why it cannot be decoded. */
  record: StoredLease | string | undefined;
  /** The network state document as stored (decodeState reads it), if any. */
  state: string | undefined;
  /** Whether the node name's machine key exists (a claim then compares it, else writes it). */
  machineRegistered: boolean;
  taken: Array<{ addresses: Ip[]; more: boolean }>;
  /** The network's holds and the pool's cooling addresses. */
  reuse: ReuseRead;
}

/** Holds (with the revisions that guard them) and cooling addresses as read; holds that cannot be decoded apart. */
export interface ReuseRead {
  holds: StoredHold[];
  cooling: Cooling[];
  unreadable: Array<{ key: string; why: string }>;
}

export class EtcdPool {
  constructor(
    readonly client: EtcdClient,
    readonly layout: ClusterLayout,
  ) {}

  /** The attachment's record: undefined when there is none, a string saying why when it cannot be decoded. */
  async readLease(att: Attachment): Promise<StoredLease | string | undefined> {
    const key = this.layout.leaseKey(att);
    const r = await etcdCall(`reading ${key}`, () => this.client.range({ key }));
    const kv = r.kvs[0];
    return kv && decodeStored(kv);
  }

  /**
   * What says whose an attachment is when its record cannot be decoded, read at one revision: the record as
   * stored, whether this node's index lists the attachment, and the machine the node's name is registered to.
   */
  async undecodedRecord(att: Attachment): Promise<{ record: KeyValue | undefined; indexed: boolean; machine: string | undefined }> {
    const l = this.layout;
    const r = await etcdCall(`reading ${l.leaseKey(att)}`, () =>
      this.client.txn({
        compare: [],
        success: [{ range: { key: l.leaseKey(att) } }, { range: { key: l.nodeIndexKey(att), keysOnly: true } }, { range: { key: l.machineKey() } }],
      }),
    );
    const [record, index, machine] = r.responses.map((op) => ('range' in op ? op.range.kvs[0] : undefined));
    return { record, indexed: index !== undefined, machine: machine?.value };
  }

  /** The two range reads of reuseOf, for a txn. */
  private reuseReads(): Array<{ key: string; rangeEnd: Buffer }> {
    const l = this.layout;
    return [l.holdsPrefix(), l.coolingPrefix()].map((key) => ({ key, rangeEnd: prefixEnd(key) }));
  }

  private reuseOf(holds: KeyValue[], cooling: KeyValue[]): ReuseRead {
    const out: ReuseRead = { holds: [], cooling: [], unreadable: [] };
    for (const kv of holds) {
      const d = decodeStoredHold(kv);
      if (typeof d === 'string') out.unreadable.push({ key: kv.key, why: d });
      else out.holds.push(d);
    }
    for (const kv of cooling) {
      const ip = this.layout.coolingAddressOf(kv.key);
      const until = decodeCoolingEnd(kv.value);
      if (ip && until) out.cooling.push({ address: formatIp(ip), until });
    }
    return out;
  }

  /** The network's holds and the pool's cooling addresses, in one round trip. */
  async reuse(): Promise<ReuseRead> {
    const r = await etcdCall(`reading ${this.layout.holdsPrefix()} and ${this.layout.coolingPrefix()}`, () =>
      this.client.txn({ compare: [], success: this.reuseReads().map((range) => ({ range })) }),
    );
    const [holds, cooling] = r.responses.map((op) => ('range' in op ? op.range.kvs : []));
    return this.reuseOf(holds ?? [], cooling ?? []);
  }

  /** One hold as stored, or undefined (a hold that cannot be decoded is none: a new one replaces it). */
  async readHold(k: HoldKey): Promise<StoredHold | undefined> {
    const key = this.layout.holdKey(k);
    const kv = (await etcdCall(`reading ${key}`, () => this.client.range({ key }))).kvs[0];
    const d = kv && decodeStoredHold(kv);
    return typeof d === 'string' ? undefined : d;
  }

  /** Ends a hold if it is still as given; returns the addresses it kept, none if it had changed or gone. */
  async endHold(hold: Hold): Promise<string[]> {
    const stored = await this.readHold(hold);
    if (!stored || stored.hold.releasedAt !== hold.releasedAt) return [];
    const r = await etcdCall(`ending the hold ${this.layout.holdKey(hold)}`, () => this.client.txn(endHoldTxn(this.layout, stored)));
    return r.succeeded ? stored.hold.addresses : [];
  }

  async endCooling(ips: Ip[]): Promise<void> {
    if (ips.length === 0) return;
    await etcdCall(`removing cooling keys under ${this.layout.coolingPrefix()}`, () =>
      this.client.txn({ compare: [], success: ips.map((ip) => ({ deleteRange: { key: this.layout.coolingKey(ip) } })) }),
    );
  }

  /** Every record of the network, and the keys whose value cannot be decoded (never to be freed blindly). */
  async leases(): Promise<{ leases: StoredLease[]; unreadable: Array<{ key: string; why: string }> }> {
    const prefix = this.layout.leasesPrefix();
    const r = await etcdCall(`reading ${prefix}`, () => this.client.range({ key: prefix, rangeEnd: prefixEnd(prefix) }));
    const leases: StoredLease[] = [];
    const unreadable: Array<{ key: string; why: string }> = [];
    for (const kv of r.kvs) {
      const d = decodeStored(kv);
      if (typeof d === 'string') unreadable.push({ key: kv.key, why: d });
      else leases.push(d);
    }
    return { leases, unreadable };
  }

  /** Held addresses of one family between first and last, in address order, at most `limit` (more: some left). */
  async taken(family: Family, first: bigint, last: bigint, limit?: number): Promise<{ addresses: Ip[]; more: boolean }> {
    const span = this.layout.addressSpan(family, first, last);
    const r = await etcdCall(`reading taken addresses under ${this.layout.addressPrefix(family)}`, () =>
      this.client.range({ ...span, keysOnly: true, ...(limit !== undefined && { limit }) }),
    );
    return { addresses: r.kvs.flatMap((kv) => this.layout.addressOf(kv.key) ?? []), more: r.more };
  }

  /** The attachments this node (or `node`) has in this network, from its index. */
  async nodeAttachments(node?: string): Promise<Attachment[]> {
    const prefix = this.layout.nodePrefix(node, this.layout.names.network);
    const r = await etcdCall(`reading ${prefix}`, () => this.client.range({ key: prefix, rangeEnd: prefixEnd(prefix), keysOnly: true }));
    return r.kvs.flatMap((kv) => {
      const [containerID, ifname] = kv.key.slice(prefix.length).split('/');
      return containerID && ifname !== undefined ? [{ containerID, ifname: decodeURIComponent(ifname) }] : [];
    });
  }

  /** Every node's index entries for this network, and every node's seen time. */
  async nodeFacts(): Promise<NodeFacts> {
    const l = this.layout;
    const [index, seen] = [l.nodesPrefix(), l.seenPrefix()];
    const r = await etcdCall(`reading ${index} and ${seen}`, () =>
      this.client.txn({
        compare: [],
        success: [{ range: { key: index, rangeEnd: prefixEnd(index), keysOnly: true } }, { range: { key: seen, rangeEnd: prefixEnd(seen) } }],
      }),
    );
    const [entries, times] = r.responses.map((op) => ('range' in op ? op.range.kvs : []));
    const facts: NodeFacts = { index: [], seen: {} };
    for (const kv of entries ?? []) {
      const e = l.indexEntryOf(kv.key);
      if (e?.network === l.names.network) facts.index.push({ node: e.node, containerID: e.containerID, ifname: e.ifname });
    }
    for (const kv of times ?? []) {
      const at = decodeSeen(kv.value);
      if (at) facts.seen[kv.key.slice(seen.length)] = at;
    }
    return facts;
  }

  /**
   * What an ADD needs before it allocates, in one round trip and at one revision: the attachment's record, the
   * network's state (cursors), whether the node name's machine key exists, and the taken addresses of each span (keys only, at most `limit` per span).
   */
  async snapshot(att: Attachment, spans: Array<{ family: Family; first: bigint; last: bigint }>, limit?: number): Promise<Snapshot> {
    const l = this.layout;
    const reads = [
      { key: l.leaseKey(att) },
      { key: l.stateKey() },
      { key: l.machineKey(), keysOnly: true },
      ...spans.map((s) => ({ ...l.addressSpan(s.family, s.first, s.last), keysOnly: true, ...(limit !== undefined && { limit }) })),
      ...this.reuseReads(),
    ];
    const r = await etcdCall(`reading ${l.leaseKey(att)} and the pool's taken addresses`, () =>
      this.client.txn({ compare: [], success: reads.map((range) => ({ range })) }),
    );
    const answers = r.responses.map((op) => ('range' in op ? op.range : undefined));
    const recordKv = answers[0]?.kvs[0];
    return {
      record: recordKv && decodeStored(recordKv),
      state: answers[1]?.kvs[0]?.value,
      machineRegistered: (answers[2]?.kvs.length ?? 0) > 0,
      taken: spans.map((_, i) => ({ addresses: answers[i + 3]?.kvs.flatMap((kv) => l.addressOf(kv.key) ?? []) ?? [], more: answers[i + 3]?.more ?? false })),
      reuse: this.reuseOf(answers[spans.length + 3]?.kvs ?? [], answers[spans.length + 4]?.kvs ?? []),
    };
  }

  /** Claims again, at most twice, when the node name's machine key was not as the plan expected. */
  async claim(plan: ClaimPlan): Promise<ClaimOutcome> {
    let p = plan;
    for (let attempt = 1; ; attempt++) {
      const r = await etcdCall(`claiming ${p.lease.addresses.join(', ')} for ${p.lease.containerID}`, () => this.client.txn(claimTxn(this.layout, p)));
      const out = claimOutcome(this.layout, p, r);
      if (out.status !== 'registration' || !p.machine || attempt === 3) return out;
      p = { ...p, machine: { id: p.machine.id, registered: out.registered } };
    }
  }

  async release(plan: ReleasePlan): Promise<ReleaseOutcome> {
    const r = await etcdCall(`releasing ${plan.addresses.join(', ')} of ${plan.attachment.containerID}`, () => this.client.txn(releaseTxn(this.layout, plan)));
    return releaseOutcome(plan, r);
  }
}
