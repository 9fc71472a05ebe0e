// An in-memory Store with the disk store's semantics (all-or-nothing putLease, claims owned by one attachment),
// for in-process tests of the plugin verbs and the CLI's rules. Never used by the shipped plugin.
import type { LeaseView } from '../../allocator/allocate.js';
import type { Claim } from '../../allocator/leaks.js';
import { type Cooling, type Hold, sameHoldKey } from '../../allocator/reuse.js';
import { CniError, Code } from '../../base/errors.js';
import { type Attachment, attachmentKey, sameAttachment } from '../../base/ids.js';
import { formatIp } from '../../net/ip.js';
import { planAdoption } from '../adoption.js';
import { type ReleasePolicy, holdFor, keepsHold } from '../hold.js';
import type { Lease } from '../lease.js';
import { type NetworkState, type StateView, emptyState } from '../state.js';
import {
  type AddReading,
  type Adoption,
  type LockedReader,
  type NetworkReader,
  type NetworkSession,
  type OpenOptions,
  type Store,
  type Unreadable,
  ClaimConflict,
  adoptsOnOpen,
  readOneByOne,
  unreadableError,
} from '../store.js';

export interface MemoryNetwork {
  state: StateView;
  leases: Map<string, Lease>;
  claims: Map<string, { holder: Attachment; mtimeMs: number }>;
  unreadable: Unreadable[];
  /** host-local's round-robin positions, as adoption reads them. */
  legacyCursors: Record<string, string>;
  holds: Hold[];
  /** Cooling addresses and when each cooldown ends. */
  cooling: Map<string, string>;
}

export const emptyNetwork = (): MemoryNetwork => ({
  state: { status: 'missing' },
  leases: new Map(),
  claims: new Map(),
  unreadable: [],
  legacyCursors: {},
  holds: [],
  cooling: new Map(),
});

class MemoryReader implements NetworkReader {
  constructor(
    readonly network: string,
    protected readonly net: MemoryNetwork,
  ) {}

  get location(): string {
    return `memory:${this.network}`;
  }

  async state(): Promise<StateView> {
    return this.net.state;
  }

  async getLease(att: Attachment): Promise<Lease | undefined> {
    return this.net.leases.get(attachmentKey(att));
  }

  async listLeases(): Promise<{ leases: Lease[]; unreadable: Unreadable[] }> {
    return { leases: [...this.net.leases.values()], unreadable: [...this.net.unreadable] };
  }

  async listClaims(): Promise<Claim[]> {
    return [...this.net.claims].map(([address, c]) => ({ address, holder: c.holder, mtimeMs: c.mtimeMs }));
  }

  async claimHolder(address: string): Promise<Attachment | undefined> {
    return this.net.claims.get(address)?.holder;
  }

  async view(): Promise<LeaseView> {
    return { isTaken: (ip) => this.net.claims.has(formatIp(ip)) };
  }

  async reuse(): Promise<{ holds: Hold[]; cooling: Cooling[]; unreadable: Unreadable[] }> {
    return { holds: [...this.net.holds], cooling: [...this.net.cooling].map(([address, until]) => ({ address, until })), unreadable: [] };
  }
}

class MemoryLockedReader extends MemoryReader implements LockedReader {
  readonly lockWaitMs = 0;
  constructor(
    network: string,
    net: MemoryNetwork,
    private readonly unlock: () => void,
  ) {
    super(network, net);
  }

  close(): void {
    this.unlock();
  }
}

class MemorySession extends MemoryLockedReader implements NetworkSession {
  readForAdd(att: Attachment): Promise<AddReading> {
    return readOneByOne(this, att);
  }

  private get current(): NetworkState {
    return this.net.state.status === 'ok' ? this.net.state.value : emptyState(this.network);
  }

  private setCursors(cursors: Record<string, string>): void {
    this.net.state = { status: 'ok', value: { ...this.current, cursors }, ignoredCursors: {} };
  }

  async putLease(lease: Lease, _previous: Lease | undefined, cursors: Record<string, string>, ending?: Hold): Promise<void> {
    const taken = lease.addresses.find((a) => this.net.claims.has(a) && !sameAttachment(this.net.claims.get(a)!.holder, lease));
    if (taken) {
      throw new ClaimConflict(taken, this.net.claims.get(taken)!.holder.containerID);
    }
    this.net.leases.set(attachmentKey(lease), lease);
    for (const a of lease.addresses) this.net.claims.set(a, { holder: { containerID: lease.containerID, ifname: lease.ifname }, mtimeMs: Date.now() });
    this.setCursors(cursors);
    for (const a of lease.addresses) this.net.cooling.delete(a);
    if (ending) await this.endHold(ending);
  }

  async endHold(hold: Hold): Promise<string[]> {
    const i = this.net.holds.findIndex((h) => sameHoldKey(h, hold) && h.releasedAt === hold.releasedAt);
    return i < 0 ? [] : this.net.holds.splice(i, 1)[0]!.addresses;
  }

  async endCooling(addresses: string[]): Promise<void> {
    for (const a of addresses) this.net.cooling.delete(a);
  }

  async deleteLease(lease: Lease): Promise<string[]> {
    this.net.leases.delete(attachmentKey(lease));
    const freed = lease.addresses.filter((a) => sameAttachment(this.net.claims.get(a)?.holder, lease));
    for (const a of freed) this.net.claims.delete(a);
    return freed;
  }

  async release(att: Attachment, policy?: ReleasePolicy): Promise<string[]> {
    const lease = this.net.leases.get(attachmentKey(att));
    if (!lease) return [];
    const hold = holdFor(lease, policy);
    const existing = hold && this.net.holds.find((h) => sameHoldKey(h, hold));
    if (hold && !(existing && keepsHold(existing, lease))) this.net.holds = [...this.net.holds.filter((h) => !sameHoldKey(h, hold)), hold];
    const freed = await this.deleteLease(lease);
    if (!hold && policy?.coolUntil) for (const a of freed) this.net.cooling.set(a, policy.coolUntil);
    return freed;
  }

  async removeClaim(address: string): Promise<void> {
    const holder = this.net.claims.get(address)?.holder;
    if (holder && this.net.leases.has(attachmentKey(holder))) return;
    this.net.claims.delete(address);
  }

  async adopt(plan: Adoption): Promise<void> {
    for (const { lease } of plan.adopted) this.net.leases.set(attachmentKey(lease), lease);
    this.setCursors({ ...plan.cursors, ...this.current.cursors });
  }
}

export class MemoryStore implements Store {
  readonly location = 'memory';
  readonly nets = new Map<string, MemoryNetwork>();
  private queue = new Map<string, Promise<void>>();

  /** The network's contents, created empty on first use. */
  network(name: string): MemoryNetwork {
    const net = this.nets.get(name) ?? emptyNetwork();
    this.nets.set(name, net);
    return net;
  }

  /** One holder per network at a time, like the disk store's flock; resolves with the release. */
  private async lock(network: string): Promise<() => void> {
    const before = this.queue.get(network) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.queue.set(
      network,
      before.then(() => mine),
    );
    await before;
    return release;
  }

  /** A network that must exist already (the CLI's opens): code 7 when it does not. */
  private existing(network: string): MemoryNetwork {
    const net = this.nets.get(network);
    if (!net) throw new CniError(Code.InvalidConfig, `no network ${network} in memory`);
    return net;
  }

  async openForChange(network: string, opts: OpenOptions): Promise<MemorySession> {
    const net = opts.create ? this.network(network) : this.existing(network);
    const release = await this.lock(network);
    const session = new MemorySession(network, net, release);
    if (adoptsOnOpen(opts, net.state)) {
      await session.adopt(planAdoption(await session.listClaims(), net.legacyCursors, (await session.listLeases()).leases, {}));
    }
    if (opts.create && !opts.release && net.state.status === 'unreadable') {
      release();
      throw unreadableError(net.state.path, net.state.why);
    }
    return session;
  }

  /** A reader under the network's lock: it has no method that changes the network. */
  async readLocked(network: string, _lockTimeoutMs: number): Promise<LockedReader> {
    return new MemoryLockedReader(network, this.existing(network), await this.lock(network));
  }

  /** A lock-free reader; a network not held is read as empty, and is not created. */
  readUnlocked(network: string): NetworkReader {
    return new MemoryReader(network, this.nets.get(network) ?? emptyNetwork());
  }

  async networks(): Promise<string[]> {
    return [...this.nets.keys()].sort();
  }

  async has(network: string): Promise<boolean> {
    return this.nets.has(network);
  }
}
