// The one interface every user of a network's state goes through: the plugin verbs and every CLI command,
// whatever the backend (the node's disk by default; etcd in cluster mode). Reading and writing are separate
// types: a read-only path cannot write, because its view has no method to do it with.
import type { AllocationRequest, LeaseView } from '../allocator/allocate.js';
import type { Claim, Leak } from '../allocator/leaks.js';
import type { Attachment } from '../base/ids.js';
import type { RangeSet } from '../net/range.js';
import type { Cooling, Hold } from '../allocator/reuse.js';
import type { ReleasePolicy } from './hold.js';
import type { Lease } from './lease.js';
import type { StateView } from './state.js';
import { CniError, Code } from '../base/errors.js';

export interface Unreadable {
  path: string;
  why: string;
}

/** Cluster mode: what the pool says of the nodes that share it. */
export interface NodeFacts {
  /** Every node's index entries for this network: the attachments each node says it made. */
  index: Array<Attachment & { node: string }>;
  /** When each node last claimed or released in the pool (ISO time by that node's clock). */
  seen: Record<string, string>;
}

/** A store on the node's disk answers at once; one across the network, in time. */
export type Awaitable<T> = T | Promise<T>;

/** What any reader of one network may do: look, never change. */
export interface NetworkReader {
  readonly network: string;
  /** Where the network's state lives (a directory, or a key prefix), for messages. */
  readonly location: string;
  /**
   * In cluster mode, the node this view acts for: the plugin's GC and reclaim free only this node's leases,
   * since the runtime's list and this boot's facts say nothing of other nodes. Undefined on a node's own disk.
   */
  readonly node?: string;
  /** In cluster mode, the machine this view acts for (see NodeIdentity); undefined on a node's own disk. */
  readonly machine?: string | null;
  state(): Awaitable<StateView>;
  getLease(att: Attachment): Awaitable<Lease | undefined>;
  /** Every record, plus those that could not be read (a caller must not free what an unreadable record may hold). */
  listLeases(): Awaitable<{ leases: Lease[]; unreadable: Unreadable[] }>;
  /** Every claimed address with the holder its claim names. */
  listClaims(): Awaitable<Claim[]>;
  claimHolder(address: string): Awaitable<Attachment | undefined>;
  /** Cluster mode only: the nodes' indexes and when each was last seen. */
  nodes?(): Promise<NodeFacts>;
  /** Holds of deleted pods' addresses and cooling addresses, expired ones too; holds that cannot be read apart. */
  reuse(): Awaitable<{ holds: Hold[]; cooling: Cooling[]; unreadable: Unreadable[] }>;
  /**
   * What the allocator may ask while serving this request. A store that reads taken addresses a window at a
   * time reads at least up to the first address each range set can give (from the request's cursors on) and
   * the requested ones; it answers "taken" for any address beyond what it read.
   */
  view(request: AllocationRequest): Awaitable<LeaseView>;
}

/** A reader that holds the network's lock until closed: what it shows is not half-done by a concurrent writer. */
export interface LockedReader extends NetworkReader {
  readonly lockWaitMs: number;
  close(): void;
}

/** host-local's reservations turned into leasehold records (see planAdoption). */
export interface Adoption {
  /** Records to create or extend (or that would be, for a dry run). */
  adopted: Array<{ lease: Lease; added: string[] }>;
  /** Round-robin positions taken over, for range sets without one yet. */
  cursors: Record<string, string>;
}

/**
 * What an ADD reads before it chooses, read together (in cluster mode in one round trip, at one revision). Its
 * fields stay as read: a later write is not seen in them, so each attempt of an ADD reads a new one.
 */
export interface AddReading {
  /** The attachment's own record (a repeated ADD). */
  previous: Lease | undefined;
  state: StateView;
  reuse: { holds: Hold[]; cooling: Cooling[]; unreadable: Unreadable[] };
  /** What the allocator may ask for this request: answered from what was read, and read further as needed. */
  view(request: AllocationRequest): Awaitable<LeaseView>;
}

/** An AddReading made of a reader's calls one by one: right for a store whose reads cost no round trip. */
export async function readOneByOne(s: NetworkReader, att: Attachment): Promise<AddReading> {
  return { previous: await s.getLease(att), state: await s.state(), reuse: await s.reuse(), view: (r) => s.view(r) };
}

/** A network opened for change, under its lock. */
export interface NetworkSession extends LockedReader {
  /** ADD's reads before it chooses addresses for `att` in these range sets (see AddReading). */
  readForAdd(att: Attachment, rangeSets: RangeSet[]): Promise<AddReading>;
  /**
   * Records a lease, claims its new addresses and stores the cursors, durably and all or nothing: if a claim
   * cannot be made, nothing changes (code 101 when someone else holds it). `ending` is the pod's own hold,
   * which ends with it (in cluster mode in the same transaction: of two nodes, one consumes a hold).
   */
  putLease(lease: Lease, previous: Lease | undefined, cursors: Record<string, string>, ending?: Hold): Promise<void>;
  /** Removes a lease and the claims still its own. Returns the addresses freed. */
  deleteLease(lease: Lease): Promise<string[]>;
  /**
   * DEL: frees whatever the attachment holds (nothing is fine), leaving a hold or cooldowns as `policy` says.
   * In cluster mode a release that cannot reach etcd is journaled on the node and succeeds: a pod's deletion
   * never waits on the cluster.
   */
  release(att: Attachment, policy?: ReleasePolicy): Promise<string[]>;
  /** Ends a hold (still as given): its addresses are free again. Returns them, none if it was gone. */
  endHold(hold: Hold): Promise<string[]>;
  /** Ends the cooldowns of these addresses. */
  endCooling(addresses: string[]): Promise<void>;
  /** Removes a claim that no record owns; a claim whose holder has a record stays. */
  removeClaim(address: string): Promise<void>;
  /** Applies an adoption plan: records written, cursors kept where the state has none. */
  adopt(plan: Adoption): Promise<void>;
}

export interface OpenOptions {
  lockTimeoutMs: number;
  /**
   * The plugin's open: create the network's place if missing and, on first contact, adopt what host-local
   * left there. Without it (the CLI), the network must exist and nothing is created or adopted.
   */
  create: boolean;
  /**
   * DEL: the call frees one attachment's record and claims, and needs nothing else. A store opens for it
   * whatever else in the network cannot be read (its state document), and adopts nothing.
   */
  release?: boolean;
}

export interface Store {
  /** Where this store keeps its networks, for messages. */
  readonly location: string;
  /** The network opened for change, under its lock (the plugin's verbs, and the CLI's writers). */
  openForChange(network: string, opts: OpenOptions): Promise<NetworkSession>;
  /** A read-only view under the network's lock. */
  readLocked(network: string, lockTimeoutMs: number): Promise<LockedReader>;
  /** A lock-free read-only view: fine for display and STATUS; a concurrent change may show half-done. */
  readUnlocked(network: string): NetworkReader;
  /** Networks this store holds state for, sorted. */
  networks(): Promise<string[]>;
  /**
   * STATUS: throws (code 5) when ADD could not write to the node's disk, checked without writing: the
   * network's folder, or the nearest existing one above it, is not a writable folder here (a read-only file
   * system, permissions) or its file system has no free block or inode. A store whose state is not on this
   * node's disk has nothing to check.
   */
  checkWritable?(network: string): Promise<void>;
  /**
   * STATUS: throws (code 7, naming the key) when this node cannot use what it reaches the store with: cluster
   * mode's TLS and password files, read before anything is asked of etcd (and then used for what follows).
   */
  checkAccess?(): void;
  has(network: string): Promise<boolean>;
}

/** Cluster mode: who a node is. Its name, and the machine it runs on (null: a machine without /etc/machine-id). */
export interface NodeIdentity {
  node: string;
  machine: string | null;
}

/**
 * Whose a cluster lease record is, seen from `me`: "mine" (this name and this machine); "legacy" (written by a
 * leasehold that recorded no machine, under this name or under its short form, which older versions took by
 * default: a DEL or a journaled release of that very attachment frees it, the bulk rules of GC and reclaim do
 * not, since another machine of the same name may have made it); "other" (another name, or this name on another
 * machine: never this node's to free).
 */
export function ownership(lease: Lease, me: NodeIdentity): 'mine' | 'legacy' | 'other' {
  if (lease.machine !== undefined) return lease.node === me.node && lease.machine === me.machine ? 'mine' : 'other';
  if (lease.node === me.node && me.machine === null) return 'mine';
  return lease.node === me.node || lease.node === me.node.split('.')[0] ? 'legacy' : 'other';
}

/**
 * The part of a network's leases and claims that this node may judge as leaked: on its own disk (no `node`) all
 * of it; in cluster mode only the leases this name made on this machine (unowned address keys in the pool are
 * left to the operator's `leasehold gc`).
 */
export const judgeablePart = (of: { node?: string; machine?: string | null; leases: Lease[]; claims: Claim[] }): { leases: Lease[]; claims: Claim[] } => {
  const { node, machine = null, leases, claims } = of;
  return node === undefined ? { leases, claims } : { leases: leases.filter((l) => ownership(l, { node, machine }) === 'mine'), claims: [] };
};

/** Reads the judgeable part (judgeablePart) of a network, with the records that could not be read. */
export async function readJudgeable(s: NetworkReader): Promise<{ leases: Lease[]; unreadable: Unreadable[]; claims: Claim[] }> {
  const { leases, unreadable } = await s.listLeases();
  const claims = s.node === undefined ? await s.listClaims() : [];
  return { ...judgeablePart({ node: s.node, machine: s.machine, leases, claims }), unreadable };
}

/**
 * Whether an open is the network's first contact, when what host-local left is adopted: the plugin's open
 * (create), not a DEL's, of a network with no state yet. Every backend asks this one rule.
 */
export const adoptsOnOpen = (opts: Pick<OpenOptions, 'create' | 'release'>, state: StateView): boolean =>
  opts.create && opts.release !== true && state.status === 'missing';

/** Runs f on the network opened for change, closing it (releasing the lock) whatever happens. */
export async function withSession<T>(store: Store, network: string, opts: OpenOptions, f: (s: NetworkSession) => Promise<T>): Promise<T> {
  const session = await store.openForChange(network, opts);
  try {
    return await f(session);
  } finally {
    session.close();
  }
}

/** Frees leaks under the session's lock; returns the addresses actually freed. */
export async function freeLeaks(session: NetworkSession, leaks: Array<Pick<Leak, 'lease' | 'address'>>): Promise<string[]> {
  const freed: string[] = [];
  for (const leak of leaks) {
    if (leak.lease) freed.push(...(await session.deleteLease(leak.lease)));
    else if (leak.address) {
      await session.removeClaim(leak.address);
      freed.push(leak.address);
    }
  }
  return freed;
}

/** The error for a state file or record that cannot be used: code 5, naming it, changing nothing. */
export const unreadableError = (path: string, why: string): CniError =>
  new CniError(
    Code.IoFailure,
    `state file ${path} is unreadable: ${why}. Nothing was changed; move the file aside after checking it (leasehold check) to continue`,
    path,
  );

/**
 * putLease lost a race: another writer claimed one of the addresses first (in cluster mode, another node).
 * Nothing was changed; the caller may choose again with a fresh view.
 */
export class ClaimConflict extends CniError {
  constructor(
    readonly address: string,
    holder: string | undefined,
  ) {
    super(Code.AddressUnavailable, `address ${address} was claimed meanwhile by ${holder ?? 'another writer'}; retry the ADD`);
  }
}
