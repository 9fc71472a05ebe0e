// The networks of a data directory, and a whole-network snapshot for the operator CLI. Nothing here
// adopts, creates or writes: a snapshot reports what is on disk, including what cannot be read.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Claim } from '../allocator/leaks.js';
import { isValidId } from '../cni/env.js';
import { ioError } from '../cni/errors.js';
import { exists, readIfExists } from './fsutil.js';
import { type Lease, claimAddress } from './lease.js';
import { acquireLock } from './lock.js';
import { LEASES_DIR, type NetworkState, NetworkStore, STATE_FILE, decodeState } from './network-store.js';

export type StateView = { status: 'ok'; value: NetworkState } | { status: 'missing' } | { status: 'unreadable'; why: string };

export interface NetworkSnapshot {
  network: string;
  dir: string;
  state: StateView;
  leases: Lease[];
  unreadable: Array<{ path: string; why: string }>;
  claims: Claim[];
}

export const isNetworkName = isValidId;

/** A directory holds a network if leasehold or host-local has left its marks there. */
function looksLikeNetwork(dir: string): boolean {
  let names: string[];
  try {
    if (!lstatSync(dir).isDirectory()) return false;
    names = readdirSync(dir);
  } catch {
    return false;
  }
  return names.some((n) => n === 'lock' || n === STATE_FILE || n === LEASES_DIR || n.startsWith('last_reserved_ip.') || claimAddress(n) !== undefined);
}

/** Network names found in a data directory, sorted; none if the directory does not exist yet. */
export function listNetworks(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError('listing', dataDir, e);
  }
  return names.filter((n) => isNetworkName(n) && looksLikeNetwork(join(dataDir, n))).sort();
}

export function networkExists(dataDir: string, network: string): boolean {
  return isNetworkName(network) && looksLikeNetwork(join(dataDir, network));
}

export function readState(dir: string): StateView {
  const path = join(dir, STATE_FILE);
  let text: string | undefined;
  try {
    text = readIfExists(path);
  } catch (e) {
    return { status: 'unreadable', why: `${(e as NodeJS.ErrnoException).code ?? 'error'}: ${(e as Error).message}` };
  }
  if (text === undefined) return { status: 'missing' };
  const st = decodeState(text);
  return typeof st === 'string' ? { status: 'unreadable', why: st } : { status: 'ok', value: st };
}

/** Everything a store holds, read through its own methods (a host-local-only directory has no records). */
export function snapshot(store: NetworkStore): NetworkSnapshot {
  const records = exists(store.leasesDir) ? store.listLeases() : { leases: [], unreadable: [] };
  return { network: store.network, dir: store.dir, state: readState(store.dir), ...records, claims: store.listClaims() };
}

/** Lock-free snapshot: fine for display; a concurrent ADD or DEL may show half-done. */
export const peekSnapshot = (dataDir: string, network: string): NetworkSnapshot => snapshot(NetworkStore.inspect(dataDir, network));

/**
 * Runs f with the network's flock held (the plugin's lock), on a store that has not adopted anything.
 * The network directory must exist: the lock file is created in it if missing, as host-local does.
 */
export function withNetworkLock<T>(dataDir: string, network: string, timeoutMs: number, f: (store: NetworkStore) => T): T {
  const store = NetworkStore.inspect(dataDir, network, acquireLock(join(dataDir, network, 'lock'), timeoutMs));
  try {
    return f(store);
  } finally {
    store.close();
  }
}

/** A network that is configured but has no directory yet: nothing leased. */
export const emptySnapshot = (dataDir: string, network: string): NetworkSnapshot => ({
  network,
  dir: join(dataDir, network),
  state: { status: 'missing' },
  leases: [],
  unreadable: [],
  claims: [],
});

/** withNetworkLock over several networks at once, locked in name order so two callers never deadlock. */
export function withNetworkLocks<T>(dataDir: string, networks: string[], timeoutMs: number, f: (stores: Map<string, NetworkStore>) => T): T {
  const sorted = [...new Set(networks)].sort();
  const held = new Map<string, NetworkStore>();
  const step = (i: number): T =>
    i === sorted.length
      ? f(held)
      : withNetworkLock(dataDir, sorted[i]!, timeoutMs, (store) => {
          held.set(sorted[i]!, store);
          return step(i + 1);
        });
  return step(0);
}
