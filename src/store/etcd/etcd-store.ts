// Cluster mode's Store: one network's leases in an etcd pool shared by every node (layout.ts, txns.ts), with
// this node's own flock and journal on its disk. The flock orders this node's calls on the network (a journaled
// release is replayed before the next ADD of the same attachment); uniqueness across nodes comes from etcd's
// guarded transactions alone, never from timing.
import { join } from 'node:path';
import { type AllocationRequest, type LeaseView, type SearchSpan, firstFreeIn, searchSpans, setContains } from '../../allocator/allocate.js';
import type { Claim } from '../../allocator/leaks.js';
import { type Cooling, type Hold, ownHold } from '../../allocator/reuse.js';
import { CniError, Code } from '../../base/errors.js';
import { readMachineId } from '../../base/host.js';
import { type Attachment, sameAttachment } from '../../base/ids.js';
import { isoTime } from '../../base/proc.js';
import type { ClusterConf } from '../../config/cluster.js';
import { etcdAccess } from '../../config/secrets.js';
import { EtcdClient } from '../../etcd/client.js';
import { prefixEnd } from '../../etcd/keys.js';
import type { Sockets } from '../../etcd/transport.js';
import { type Family, type Ip, formatIp, parseIp } from '../../net/ip.js';
import { type RangeSet, nextAssignable } from '../../net/range.js';
import { type ReleasePolicy, holdFor } from '../hold.js';
import { type PendingRelease, ReleaseJournal } from '../node/journal.js';
import { type Lock, acquireLock, lockNetworkDir } from '../node/lock.js';
import { LOCK_FILE } from '../node/names.js';
import type { Lease } from '../lease.js';
import { type StateView, decodeState, emptyState } from '../state.js';
import {
  type AddReading,
  type Adoption,
  ClaimConflict,
  type LockedReader,
  type NetworkReader,
  type NetworkSession,
  type NodeFacts,
  type NodeIdentity,
  type OpenOptions,
  type Store,
  type Unreadable,
  ownership,
  unreadableError,
} from '../store.js';
import { ClusterLayout, decodeHolder } from './layout.js';
import { EtcdPool, type Snapshot, cniErrorOf, etcdCall } from './pool.js';
import { type StoredHold, type StoredLease, orphanRemovalTxn } from './txns.js';

/** How this store finds its pool and this node. */
export interface EtcdStoreOptions {
  cluster: ClusterConf;
  /** This node's data directory: its lock and its journal of releases that did not reach etcd. */
  dataDir: string;
  /** Which sockets carry the calls to etcd: the plugin's choice or the CLI's (etcd/transport.ts). */
  sockets: Sockets;
  /** When every call to etcd must be over (nowMs): STATUS's own bound (plugin/verbs/status.ts). */
  until?: number;
}

/** Held keys read per window; the first window of a search, then four times more each time. */
const WINDOW = 64;
/** Held keys of each range read with an ADD's record and cursors: a range holding no more is known whole. */
const PREFETCH = 256;

const ipKey = (ip: Ip): string => `${ip.family}/${ip.value}`;

/** What a view has read: taken addresses (their keys exist), and the stretches it knows all taken ones of. */
class Knowledge {
  readonly taken = new Set<string>();
  private readonly known: Array<{ family: Family; first: bigint; last: bigint }> = [];

  learn(family: Family, first: bigint, last: bigint, taken: Ip[]): void {
    for (const ip of taken) this.taken.add(ipKey(ip));
    this.known.push({ family, first, last });
  }

  covers(family: Family, first: bigint, last: bigint): boolean {
    return this.known.some((k) => k.family === family && first >= k.first && last <= k.last);
  }

  knows(ip: Ip): boolean {
    return this.covers(ip.family, ip.value, ip.value);
  }

  /** Addresses free to this ADD whatever a window read later says: their keys name the pod's own hold. */
  private readonly ours = new Set<string>();

  free(ip: Ip): void {
    this.ours.add(ipKey(ip));
  }

  /** Unknown addresses answer taken: the allocator never hands out one it has not seen free. */
  readonly view: LeaseView = { isTaken: (ip) => !this.ours.has(ipKey(ip)) && (this.taken.has(ipKey(ip)) || !this.knows(ip)) };
}

class EtcdReader implements NetworkReader {
  readonly location: string;
  readonly node: string;
  readonly machine: string | null;
  /** Records as read, with the revisions a later release is guarded by. */
  protected readonly stored = new Map<string, StoredLease>();
  /** Holds as read, with the revisions that guard taking them over. */
  protected readonly storedHolds = new Map<string, StoredHold>();

  constructor(
    readonly network: string,
    protected readonly pool: EtcdPool,
    protected readonly me: NodeIdentity,
  ) {
    this.location = `etcd:${pool.layout.networkPrefix()}`;
    this.node = me.node;
    this.machine = me.machine;
  }

  protected remember(s: StoredLease): Lease {
    this.stored.set(this.pool.layout.leaseKey(s.lease), s);
    return s.lease;
  }

  async state(): Promise<StateView> {
    const key = this.pool.layout.stateKey();
    return this.stateOf((await etcdCall(`reading ${key}`, () => this.pool.client.range({ key }))).kvs[0]?.value);
  }

  protected stateOf(text: string | undefined): StateView {
    const key = this.pool.layout.stateKey();
    // No state yet is a network with no cursor: there is nothing on a node to adopt in cluster mode.
    if (text === undefined) return { status: 'ok', value: emptyState(this.network), ignoredCursors: {} };
    const st = decodeState(text);
    return typeof st === 'string' ? { status: 'unreadable', why: st, path: `etcd:${key}` } : st;
  }

  async getLease(att: Attachment): Promise<Lease | undefined> {
    return this.leaseOf(att, await this.pool.readLease(att));
  }

  protected leaseOf(att: Attachment, got: StoredLease | string | undefined): Lease | undefined {
    if (typeof got === 'string') throw unreadableError(`etcd:${this.pool.layout.leaseKey(att)}`, got);
    return got && this.remember(got);
  }

  async listLeases(): Promise<{ leases: Lease[]; unreadable: Unreadable[] }> {
    const r = await this.pool.leases();
    return { leases: r.leases.map((s) => this.remember(s)), unreadable: r.unreadable.map((u) => ({ path: `etcd:${u.key}`, why: u.why })) };
  }

  /** The address keys of the pool that name this network (another network's are never this one's to free). */
  async listClaims(): Promise<Claim[]> {
    const out: Claim[] = [];
    for (const family of [4, 6] as const) {
      const prefix = this.pool.layout.addressPrefix(family);
      const r = await etcdCall(`reading ${prefix}`, () => this.pool.client.range({ key: prefix, rangeEnd: prefixEnd(prefix) }));
      for (const kv of r.kvs) {
        const ip = this.pool.layout.addressOf(kv.key);
        const h = decodeHolder(kv.value);
        if (ip && h?.network === this.network) out.push({ address: formatIp(ip), holder: { containerID: h.containerID, ifname: h.ifname } });
      }
    }
    return out;
  }

  nodes(): Promise<NodeFacts> {
    return this.pool.nodeFacts();
  }

  async reuse(): Promise<{ holds: Hold[]; cooling: Cooling[]; unreadable: Unreadable[] }> {
    return this.reuseOf(await this.pool.reuse());
  }

  protected reuseOf(r: Snapshot['reuse']): { holds: Hold[]; cooling: Cooling[]; unreadable: Unreadable[] } {
    for (const h of r.holds) this.storedHolds.set(this.pool.layout.holdKey(h.hold), h);
    return { holds: r.holds.map((h) => h.hold), cooling: r.cooling, unreadable: r.unreadable.map((u) => ({ path: `etcd:${u.key}`, why: u.why })) };
  }

  async claimHolder(address: string): Promise<Attachment | undefined> {
    const key = this.pool.layout.addressKey(parseIp(address));
    const r = await etcdCall(`reading ${key}`, () => this.pool.client.range({ key }));
    const h = r.kvs[0] && decodeHolder(r.kvs[0].value);
    // An address another network of the pool holds is taken, but by no attachment of this network.
    return (
      h && (h.network === this.network ? { containerID: h.containerID, ifname: h.ifname } : { containerID: `${h.network}/${h.containerID}`, ifname: h.ifname })
    );
  }

  /**
   * The taken addresses the allocator needs: for each range set, windows of address keys in the order the
   * allocator searches, until one address it may hand out is seen (or the set is read whole); and each
   * requested address. What `k` knows already (an ADD's reading) is not read again.
   */
  view(req: AllocationRequest): Promise<LeaseView> {
    return this.viewWith(new Knowledge(), req);
  }

  protected async viewWith(k: Knowledge, req: AllocationRequest): Promise<LeaseView> {
    // The pod's own hold: its addresses' keys name the hold, and are free to this ADD while they do.
    const own = ownHold(req.reuse);
    const ownIps = (own?.addresses ?? []).map(parseIp).filter((ip) => req.rangeSets.some((set) => setContains(set, ip)));
    if (own && ownIps.length) {
      const marker = this.pool.layout.holdMarker(own);
      const r = await etcdCall('reading the addresses of the pod’s hold', () =>
        this.pool.client.txn({ compare: [], success: ownIps.map((ip) => ({ range: { key: this.pool.layout.addressKey(ip) } })) }),
      );
      ownIps.forEach((ip, i) => {
        const op = r.responses[i];
        const kv = op && 'range' in op ? op.range.kvs[0] : undefined;
        if (kv === undefined || kv.value === marker) k.free(ip);
        else k.learn(ip.family, ip.value, ip.value, [ip]);
      });
    }
    const points = req.requested.filter((ip) => !k.knows(ip));
    if (points.length) {
      const r = await etcdCall('reading the requested addresses', () =>
        this.pool.client.txn({ compare: [], success: points.map((ip) => ({ range: { key: this.pool.layout.addressKey(ip), keysOnly: true } })) }),
      );
      points.forEach((ip, i) => {
        const op = r.responses[i];
        k.learn(ip.family, ip.value, ip.value, op && 'range' in op && op.range.kvs.length ? [ip] : []);
      });
    }
    for (const [i, set] of req.rangeSets.entries()) {
      if (req.alreadyLeased.some((ip) => setContains(set, ip)) || req.requested.some((ip) => setContains(set, ip))) continue;
      await this.readUntilFree(k, searchSpans(set, req.cursors[i]), req);
    }
    return k.view;
  }

  private async readUntilFree(k: Knowledge, spans: SearchSpan[], req: AllocationRequest): Promise<void> {
    let limit = WINDOW;
    for (const span of spans) {
      const { range } = span;
      // Each window starts at an address that may be handed out: excluded spans are never read through.
      for (let first = nextAssignable(range, req.exclude, span.first); first !== undefined && first <= span.last; ) {
        let last = span.last;
        if (!k.covers(range.family, first, last)) {
          const got = await this.pool.taken(range.family, first, last, limit);
          if (got.more) last = got.addresses[got.addresses.length - 1]!.value;
          k.learn(range.family, first, last, got.addresses);
          limit *= 4;
        }
        if (firstFreeIn({ ...span, first, last }, req.exclude, k.view)) return;
        first = nextAssignable(range, req.exclude, last + 1n);
      }
    }
  }
}

/** Another node's attachment (or this name's on another machine) named by this node's ADD or CHECK. */
function foreignAttachment(lease: Lease, me: NodeIdentity, key: string): CniError {
  const maker = lease.node === me.node ? `another machine named ${me.node}` : `node ${lease.node ?? '(none recorded)'}`;
  return new CniError(
    Code.InvalidEnv,
    `CNI_CONTAINERID ${lease.containerID} with CNI_IFNAME ${lease.ifname} is an attachment ${maker} made in this network; ` +
      "container ids must be unique across the nodes of a cluster pool (cnitool derives them from the netns name: give each node's netns its own name)",
    `etcd:${key}`,
  );
}

/** A reader under this node's lock on the network: no method of it writes, to etcd or to the node's disk. */
class EtcdLockedReader extends EtcdReader implements LockedReader {
  constructor(
    network: string,
    pool: EtcdPool,
    me: NodeIdentity,
    private readonly lock: Lock,
  ) {
    super(network, pool, me);
  }

  get lockWaitMs(): number {
    return this.lock.waitedMs;
  }

  close(): void {
    this.lock.release();
  }
}

class EtcdSession extends EtcdLockedReader implements NetworkSession {
  constructor(
    network: string,
    pool: EtcdPool,
    me: NodeIdentity,
    lock: Lock,
    private readonly journal: ReleaseJournal,
  ) {
    super(network, pool, me, lock);
  }

  /** Whether this node name's machine key existed when last read: the claim txn's first guess (it corrects itself). */
  private machineRegistered = true;

  /** An attachment another node (or another machine of this name) made is never this node's to add again. */
  override async getLease(att: Attachment): Promise<Lease | undefined> {
    return this.notForeign(att, await super.getLease(att));
  }

  private notForeign(att: Attachment, lease: Lease | undefined): Lease | undefined {
    if (lease && ownership(lease, this.me) === 'other') throw foreignAttachment(lease, this.me, this.pool.layout.leaseKey(att));
    return lease;
  }

  /**
   * The record, the cursors, the holds and cooldowns and (for ranges small enough) the taken addresses, in one
   * round trip; an attachment whose release the journal still holds is refused first (see refusePending).
   */
  async readForAdd(att: Attachment, rangeSets: RangeSet[]): Promise<AddReading> {
    this.refusePending(att);
    const ranges = rangeSets.flat();
    const spans = ranges.map((r) => ({ family: r.family, first: r.start, last: r.end }));
    const snap = await this.pool.snapshot(att, spans, PREFETCH);
    this.machineRegistered = snap.machineRegistered;
    const seen = (): Knowledge => {
      const k = new Knowledge();
      ranges.forEach((r, i) => {
        const got = snap.taken[i];
        if (got && !got.more) k.learn(r.family, r.start, r.end, got.addresses);
      });
      return k;
    };
    return {
      previous: this.notForeign(att, this.leaseOf(att, snap.record)),
      state: this.stateOf(snap.state),
      reuse: this.reuseOf(snap.reuse),
      view: (req) => this.viewWith(seen(), req),
    };
  }

  async putLease(lease: Lease, previous: Lease | undefined, cursors: Record<string, string>, ending?: Hold): Promise<void> {
    const before = previous && this.stored.get(this.pool.layout.leaseKey(previous));
    const { machine } = this.me;
    const mine = { ...lease, node: this.node, ...(machine !== null && { machine }) };
    const stored = ending && this.storedHolds.get(this.pool.layout.holdKey(ending));
    const hold = stored?.hold.releasedAt === ending?.releasedAt ? stored : undefined;
    const out = await this.pool.claim({
      lease: mine,
      ...(before && { previous: before }),
      cursors,
      ...(machine !== null && { machine: { id: machine, registered: this.machineRegistered } }),
      ...(hold && { hold }),
    });
    if (hold) this.storedHolds.delete(this.pool.layout.holdKey(hold.hold));
    if (out.status === 'claimed' || out.status === 'already-ours') {
      this.machineRegistered = true;
      this.remember(out.stored);
      return;
    }
    if (out.status === 'taken') throw new ClaimConflict(out.address, out.holder ? out.holder.containerID : undefined);
    if (out.status === 'name-in-use') {
      const key = this.pool.layout.machineKey();
      throw new CniError(
        Code.InvalidConfig,
        `node name ${this.node} is used in etcd by another machine (${key}), so nothing was claimed: give every machine its own ` +
          'ipam.cluster.nodeName (by default its full host name), or if this machine replaced that one, delete the key after `leasehold release --node`',
        key,
      );
    }
    if (out.status === 'registration') {
      const key = this.pool.layout.machineKey();
      throw new CniError(Code.TryAgainLater, `${key} kept changing while this ADD claimed; retry the ADD`, key);
    }
    throw new CniError(
      Code.TryAgainLater,
      `the record of ${lease.containerID}/${lease.ifname} changed in etcd while this ADD ran; retry the ADD`,
      this.pool.layout.leaseKey(lease),
    );
  }

  deleteLease(lease: Lease): Promise<string[]> {
    return this.releaseLease(lease, undefined);
  }

  /**
   * One guarded release (a replay's also by the record's mod_revision as read); with a hold for the pod, the
   * pod's hold it replaces is read first (and guarded).
   */
  private async releaseLease(lease: Lease, policy: ReleasePolicy | undefined, modRevision?: bigint): Promise<string[]> {
    const s = this.stored.get(this.pool.layout.leaseKey(lease)) ?? (await this.pool.readLease(lease));
    if (s === undefined) return [];
    if (typeof s === 'string') throw unreadableError(`etcd:${this.pool.layout.leaseKey(lease)}`, s);
    const hold = holdFor({ ...s.lease, node: s.lease.node ?? this.node }, policy);
    for (let attempt = 1; ; attempt++) {
      const previous = hold && (await this.pool.readHold(hold));
      const out = await this.pool.release({
        attachment: lease,
        createRevision: s.createRevision,
        ...(modRevision !== undefined && { modRevision }),
        addresses: s.lease.addresses,
        node: s.lease.node ?? this.node,
        ...(hold && { hold: { hold, ...(previous && { previous }) } }),
        ...(!hold && policy?.coolUntil && { coolUntil: policy.coolUntil }),
      });
      if (out.status === 'hold-changed' && attempt < 3) continue;
      this.stored.delete(this.pool.layout.leaseKey(lease));
      return out.status === 'released' ? out.freed : [];
    }
  }

  async endHold(hold: Hold): Promise<string[]> {
    this.storedHolds.delete(this.pool.layout.holdKey(hold));
    return this.pool.endHold(hold);
  }

  async endCooling(addresses: string[]): Promise<void> {
    await this.pool.endCooling(addresses.map(parseIp));
  }

  /**
   * DEL never waits on etcd: a release that cannot reach it is journaled here (with what it leaves behind) and
   * replayed later. Frees only an attachment this node made (see ownership): another node's of the same
   * container id is left alone.
   */
  async release(att: Attachment, policy?: ReleasePolicy): Promise<string[]> {
    let read: StoredLease | undefined;
    try {
      const s = await this.pool.readLease(att);
      if (s === undefined) return [];
      if (typeof s === 'string') return await this.releaseUndecoded(att, s);
      if (ownership(s.lease, this.me) === 'other') {
        process.stderr.write(`leasehold: ${foreignAttachment(s.lease, this.me, this.pool.layout.leaseKey(att)).message}; this DEL frees nothing\n`);
        return [];
      }
      read = s;
      this.remember(s);
      return await this.releaseLease(s.lease, policy);
    } catch (e) {
      if (!(e instanceof CniError) || e.code !== Code.TryAgainLater) throw e;
      const entry = { network: this.network, containerID: att.containerID, ifname: att.ifname, at: isoTime(), ...(policy && { policy }) };
      this.journal.add({ ...entry, ...(read && { modRevision: String(read.modRevision) }) });
      process.stderr.write(
        `leasehold: ${e.message}; the release of ${att.containerID}/${att.ifname} is journaled and will reach etcd with a later call on this node\n`,
      );
      return [];
    }
  }

  /**
   * DEL of an attachment whose record cannot be decoded: it is this node's when this node's index lists it and
   * the node's name is not another machine's (the record cannot say so itself). Then the record, the index entry and
   * the address keys that name the attachment are freed in one guarded txn: only while the record is the one
   * read, and each key only while it still names the attachment. Otherwise nothing is freed.
   */
  private async releaseUndecoded(att: Attachment, why: string): Promise<string[]> {
    const key = this.pool.layout.leaseKey(att);
    const { record, indexed, machine } = await this.pool.undecodedRecord(att);
    if (record === undefined) return [];
    // No machine registered for the name is a leasehold that recorded none: its DEL frees it (see ownership).
    if (!indexed || (machine !== undefined && machine !== this.me.machine)) {
      process.stderr.write(`leasehold: ${unreadableError(`etcd:${key}`, why).message}; this node's index does not list it, so this DEL frees nothing\n`);
      return [];
    }
    const addresses = (await this.listClaims()).filter((c) => sameAttachment(c.holder, att)).map((c) => c.address);
    process.stderr.write(`leasehold: etcd:${key} cannot be decoded (${why}); freeing the address keys that name ${att.containerID}/${att.ifname}\n`);
    const out = await this.pool.release({
      attachment: att,
      createRevision: record.createRevision,
      modRevision: record.modRevision,
      addresses,
      node: this.node,
    });
    return out.status === 'released' ? out.freed : [];
  }

  /**
   * Replays journaled releases. Frees only a record this node made, and only the one the DEL read (its
   * mod_revision) or, when the DEL could read none, one created before the DEL asked: a newer ADD of the same
   * attachment (here or elsewhere) is never freed by a late release. Stops while etcd is away: an ADD of an
   * attachment whose release is still pending then fails (see EtcdStore.openForChange).
   */
  async replayJournal(): Promise<void> {
    for (const entry of this.journal.list()) {
      try {
        await this.replay(entry);
      } catch (e) {
        if (e instanceof CniError && e.code === Code.TryAgainLater) return;
        throw e;
      }
      this.journal.remove(entry);
    }
  }

  private async replay(entry: PendingRelease): Promise<void> {
    const s = await this.pool.readLease(entry);
    if (s === undefined || typeof s === 'string' || ownership(s.lease, this.me) === 'other') return;
    const read = entry.modRevision === undefined ? undefined : BigInt(entry.modRevision);
    if (read === undefined ? s.lease.createdAt > entry.at : s.modRevision !== read) return;
    this.remember(s);
    await this.releaseLease(s.lease, entry.policy, s.modRevision);
  }

  /** An ADD must not pass a release of its own attachment that the journal still holds: the DEL came first. */
  refusePending(att: Attachment): void {
    const entry = this.journal.get(att);
    if (!entry) return;
    throw new CniError(
      Code.TryAgainLater,
      `the release of ${att.containerID}/${att.ifname} that a DEL journaled at ${entry.at} has not reached etcd yet, so this ADD cannot tell ` +
        'what the attachment holds; retry the ADD once etcd answers',
      this.journal.dir,
    );
  }

  async removeClaim(address: string): Promise<void> {
    const key = this.pool.layout.addressKey(parseIp(address));
    const r = await etcdCall(`reading ${key}`, () => this.pool.client.range({ key }));
    const h = r.kvs[0] && decodeHolder(r.kvs[0].value);
    if (!h) return;
    await etcdCall(`removing ${key}`, () => this.pool.client.txn(orphanRemovalTxn(this.pool.layout, address, h)));
  }

  /** Moves records into the pool (a node's disk leases, migrated): each claimed as a new attachment. */
  async adopt(plan: Adoption): Promise<void> {
    for (const { lease } of plan.adopted) {
      const existing = await this.getLease(lease);
      await this.putLease(lease, existing, (await this.stateCursors()) ?? {});
    }
  }

  private async stateCursors(): Promise<Record<string, string> | undefined> {
    const st = await this.state();
    return st.status === 'ok' ? st.value.cursors : undefined;
  }
}

export class EtcdStore implements Store {
  readonly location: string;
  private made?: EtcdClient;

  private readonly me: NodeIdentity;

  constructor(private readonly opts: EtcdStoreOptions) {
    const { cluster } = opts;
    this.me = { node: cluster.nodeName, machine: readMachineId() };
    this.location = `etcd ${cluster.etcd.endpoints.map((e) => e.url).join(',')} ${cluster.prefix}/pools/${cluster.pool}`;
  }

  /**
   * Made on first use, inside the verb: reading the TLS and password files (a file that breaks its rule is
   * code 7 naming the key) is then the verb's to report, STATUS's included, not the dispatcher's before it.
   */
  private get client(): EtcdClient {
    if (!this.made) {
      try {
        this.made = new EtcdClient(etcdAccess(this.opts.cluster), this.opts.sockets, this.opts.until);
      } catch (e) {
        throw cniErrorOf(e, 'setting up the etcd client');
      }
    }
    return this.made;
  }

  checkAccess(): void {
    void this.client;
  }

  private pool(network: string): EtcdPool {
    const { prefix, pool, nodeName } = this.opts.cluster;
    return new EtcdPool(this.client, new ClusterLayout({ prefix, pool, network, node: nodeName }));
  }

  async openForChange(network: string, opts: OpenOptions): Promise<EtcdSession> {
    const { dir, lock } = lockNetworkDir(this.opts.dataDir, network, opts.lockTimeoutMs);
    const session = new EtcdSession(network, this.pool(network), this.me, lock, ReleaseJournal.of(dir));
    try {
      await session.replayJournal();
      return session;
    } catch (e) {
      session.close();
      throw e;
    }
  }

  /**
   * A reader under this node's lock, taken read-only: it creates no directory, replays no journal (a pending
   * release stays for the next plugin call) and writes nothing to etcd.
   */
  async readLocked(network: string, lockTimeoutMs: number): Promise<LockedReader> {
    const lock = acquireLock(join(this.opts.dataDir, network, LOCK_FILE), lockTimeoutMs, 'read');
    return new EtcdLockedReader(network, this.pool(network), this.me, lock);
  }

  readUnlocked(network: string): NetworkReader {
    return new EtcdReader(network, this.pool(network), this.me);
  }

  async networks(): Promise<string[]> {
    const prefix = `${this.opts.cluster.prefix}/networks/`;
    const r = await etcdCall(`reading ${prefix}`, () => this.client.range({ key: prefix, rangeEnd: prefixEnd(prefix), keysOnly: true }));
    return [...new Set(r.kvs.map((kv) => kv.key.slice(prefix.length).split('/')[0]!))].sort();
  }

  async has(network: string): Promise<boolean> {
    return (await this.networks()).includes(network);
  }
}
