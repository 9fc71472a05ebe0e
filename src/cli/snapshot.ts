// A whole network as the CLI judges it: state, records, claims, and what could not be read.
import type { Claim } from '../allocator/leaks.js';
import type { Cooling, Hold } from '../allocator/reuse.js';
import type { Lease } from '../store/lease.js';
import type { StateView } from '../store/state.js';
import { type NetworkReader, type NetworkSession, type NodeFacts, type Store, type Unreadable, withSession } from '../store/store.js';

export interface NetworkSnapshot {
  network: string;
  /** Cluster mode: the node this CLI runs on; only its own leases can be judged here. */
  node?: string;
  /** Cluster mode: the machine this CLI runs on (see NodeIdentity). */
  machine?: string | null;
  location: string;
  state: StateView;
  leases: Lease[];
  unreadable: Unreadable[];
  claims: Claim[];
  /** Cluster mode: every node's index entries for the network and when each node was last seen. */
  nodes?: NodeFacts;
  /** Holds of deleted pods' addresses (ipam.sticky) and cooling addresses, ended ones too. */
  holds: Hold[];
  cooling: Cooling[];
}

export async function snapshotOf(r: NetworkReader): Promise<NetworkSnapshot> {
  const [state, records, claims, reuse] = [await r.state(), await r.listLeases(), await r.listClaims(), await r.reuse()];
  const nodes = r.nodes && (await r.nodes());
  return {
    network: r.network,
    ...(r.node !== undefined && { node: r.node, machine: r.machine ?? null }),
    location: r.location,
    state,
    leases: records.leases,
    // A hold that cannot be read is reported like a record, and stops gc like one.
    unreadable: [...records.unreadable, ...reuse.unreadable],
    claims,
    ...(nodes && { nodes }),
    holds: reuse.holds,
    cooling: reuse.cooling,
  };
}

/** A network that is configured but has no state yet: nothing leased. */
export const emptySnapshot = (location: string, network: string): NetworkSnapshot => ({
  network,
  location,
  state: { status: 'missing' },
  leases: [],
  unreadable: [],
  claims: [],
  holds: [],
  cooling: [],
});

/** A lock-free snapshot for display, or an empty one for a configured network with no state yet. */
export async function unlockedSnapshot(store: Store, network: string): Promise<NetworkSnapshot> {
  return (await store.has(network)) ? snapshotOf(store.readUnlocked(network)) : emptySnapshot(store.location, network);
}

/** The CLI's open: the network must exist; nothing is created or adopted (the CLI only looks and frees). */
export const withExistingNetwork = <T>(store: Store, network: string, lockTimeoutMs: number, f: (s: NetworkSession) => Promise<T>): Promise<T> =>
  withSession(store, network, { lockTimeoutMs, create: false }, f);

/** withSession over several networks at once, locked in name order so two callers never deadlock. */
export async function withSessions<T>(
  stores: { of(network: string): Store },
  networks: string[],
  lockTimeoutMs: number,
  f: (s: Map<string, NetworkSession>) => Promise<T>,
): Promise<T> {
  const sorted = [...new Set(networks)].sort();
  const sessions = new Map<string, NetworkSession>();
  const step = (i: number): Promise<T> =>
    i === sorted.length
      ? f(sessions)
      : withExistingNetwork(stores.of(sorted[i]!), sorted[i]!, lockTimeoutMs, (s) => {
          sessions.set(sorted[i]!, s);
          return step(i + 1);
        });
  return step(0);
}
