// One network's state under <dataDir>/<network>/, always used under the network's lock:
//   lock            flock target, shared with host-local
//   leasehold.json  versioned network state (format, round-robin cursors)
//   leases/*.json   one record per attachment (container + ifname)
//   <address>       a claim per leased address, in host-local's reservation format ("<id>\r\n<ifname>"),
//                   created with link(2) so a name can only be claimed once: no address is ever held twice.
// Write order makes every crash leave either the old state or a leaked-but-unique claim, never a lost lease:
// ADD writes the record before its claims; DEL removes the record before its claims.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LeaseView } from '../allocator/allocate.js';
import type { Claim } from '../allocator/leaks.js';
import { CniError, Code, ioError } from '../cni/errors.js';
import { type Ip, formatIp } from '../net/ip.js';
import { adoptHostLocal } from './adopt.js';
import { createFileExclusive, ensurePrivateDir, exists, fsyncDir, mkdirsDurable, readIfExists, replaceFile, unlinkIfExists, unlinkQuiet } from './fsutil.js';
import { type Lease, claimAddress, claimContent, decodeLease, decodeVersioned, leaseFileName, parseClaim } from './lease.js';
import { type Lock, acquireLock } from './lock.js';

export const STATE_FILE = 'leasehold.json';
export const STATE_FORMAT = 1;
export const LEASES_DIR = 'leases';

export interface NetworkState {
  format: typeof STATE_FORMAT;
  network: string;
  /** Last address handed out per range set index (round-robin position). */
  cursors: Record<string, string>;
}

export function decodeState(text: string): NetworkState | string {
  const v = decodeVersioned<NetworkState>(text, 'state', STATE_FORMAT);
  if (typeof v === 'string') return v;
  if (typeof v.cursors !== 'object' || v.cursors === null) return 'missing cursors';
  return v as NetworkState;
}

const corrupt = (path: string, why: string): CniError =>
  new CniError(Code.IoFailure, `state file ${path} is unreadable: ${why}. Nothing was changed; move the file aside after checking it (leasehold check) to continue`, path);

export class NetworkStore implements LeaseView {
  private constructor(
    readonly dir: string,
    readonly network: string,
    private readonly lock: Lock,
    public state: NetworkState,
  ) {}

  get leasesDir(): string {
    return join(this.dir, LEASES_DIR);
  }

  get lockWaitMs(): number {
    return this.lock.waitedMs;
  }

  /** Creates the directories if needed, takes the lock, and loads the network state. */
  static open(dataDir: string, network: string, lockTimeoutMs: number): NetworkStore {
    const dir = join(dataDir, network);
    try {
      mkdirsDurable(dataDir);
      ensurePrivateDir(dataDir);
      ensurePrivateDir(dir);
    } catch (e) {
      throw ioError('preparing data directory', dir, e);
    }
    const lock = acquireLock(join(dir, 'lock'), lockTimeoutMs);
    try {
      const store = new NetworkStore(dir, network, lock, { format: STATE_FORMAT, network, cursors: {} });
      store.state = store.loadState();
      return store;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /**
   * The store of an existing network directory without loading (or first-contact adopting) its state, for
   * the operator CLI. With `lock` (from acquireLock on <dir>/lock) it may read-for-change and write, and
   * close() releases that lock; without, only its read methods may be used. `state` is left empty:
   * callers read leasehold.json themselves (decodeState) so an unreadable one can be reported, not thrown.
   */
  static inspect(dataDir: string, network: string, lock?: Lock): NetworkStore {
    const none: Lock = { path: '', waitedMs: 0, release: () => {} };
    return new NetworkStore(join(dataDir, network), network, lock ?? none, { format: STATE_FORMAT, network, cursors: {} });
  }

  /** A lock-free, read-only look (STATUS): creates nothing, adopts nothing, writes nothing. */
  static peek(dataDir: string, network: string): LeaseView & { cursors: Record<string, string> } {
    const dir = join(dataDir, network);
    const path = join(dir, STATE_FILE);
    let text: string | undefined;
    try {
      text = readIfExists(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw ioError('reading', path, e);
    }
    const state = text === undefined ? undefined : decodeState(text);
    if (typeof state === 'string') throw corrupt(path, state);
    return {
      cursors: state?.cursors ?? {},
      isTaken: (ip) => {
        try {
          return exists(join(dir, formatIp(ip)));
        } catch (e) {
          throw ioError('checking', dir, e);
        }
      },
    };
  }

  close(): void {
    this.lock.release();
  }

  private loadState(): NetworkState {
    const path = join(this.dir, STATE_FILE);
    let text: string | undefined;
    try {
      ensurePrivateDir(this.leasesDir);
      text = readIfExists(path);
    } catch (e) {
      throw ioError('reading', path, e);
    }
    if (text === undefined) {
      // First contact with this network: take over what host-local left here, so a live node can switch.
      const adopted = adoptHostLocal(this, false);
      const state: NetworkState = { format: STATE_FORMAT, network: this.network, cursors: adopted.cursors };
      this.saveState(state);
      return state;
    }
    const st = decodeState(text);
    if (typeof st === 'string') throw corrupt(path, st);
    return st;
  }

  saveState(state: NetworkState): void {
    this.io('writing', join(this.dir, STATE_FILE), () => {
      replaceFile(this.dir, STATE_FILE, `${JSON.stringify(state)}\n`);
      fsyncDir(this.dir);
    });
    this.state = state;
  }

  isTaken(ip: Ip): boolean {
    return this.io('checking', this.dir, () => exists(join(this.dir, formatIp(ip))));
  }

  /** Who holds a claimed address, from its claim file. */
  claimHolder(address: string): { containerID: string; ifname: string } | undefined {
    const text = this.io('reading', join(this.dir, address), () => readIfExists(join(this.dir, address)));
    return text === undefined ? undefined : parseClaim(text);
  }

  getLease(containerID: string, ifname: string): Lease | undefined {
    const path = join(this.leasesDir, leaseFileName(containerID, ifname));
    const text = this.io('reading', path, () => readIfExists(path));
    if (text === undefined) return undefined;
    const lease = decodeLease(text);
    if (typeof lease === 'string') throw corrupt(path, lease);
    return lease;
  }

  /** Every record, plus the files that could not be read (for check, GC and the CLI). */
  listLeases(): { leases: Lease[]; unreadable: Array<{ path: string; why: string }> } {
    const leases: Lease[] = [];
    const unreadable: Array<{ path: string; why: string }> = [];
    const names = this.io('listing', this.leasesDir, () => readdirSync(this.leasesDir));
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const path = join(this.leasesDir, name);
      const text = this.io('reading', path, () => readIfExists(path));
      if (text === undefined) continue;
      const lease = decodeLease(text);
      if (typeof lease === 'string') unreadable.push({ path, why: lease });
      else leases.push(lease);
    }
    return { leases, unreadable };
  }

  /** Every claimed address with its holder as written in the claim, and when it was written. */
  listClaims(): Claim[] {
    const names = this.io('listing', this.dir, () => readdirSync(this.dir));
    return names.flatMap((name) => {
      const address = claimAddress(name);
      if (!address) return [];
      const mtimeMs = this.io('checking', join(this.dir, name), () => lstatSync(join(this.dir, name)).mtimeMs);
      return [{ address, holder: this.claimHolder(address), mtimeMs }];
    });
  }

  /**
   * Records a lease, claims its new addresses and stores `state` (the cursors), durably, with one fsync of
   * the network directory at the end. If a claim cannot be made (taken by a writer that ignores the lock,
   * or a disk error), everything this call wrote is undone and nothing changes.
   */
  putLease(lease: Lease, previous: Lease | undefined, state: NetworkState): void {
    const name = leaseFileName(lease.containerID, lease.ifname);
    const path = join(this.leasesDir, name);
    const fresh = lease.addresses.filter((a) => !previous?.addresses.includes(a) || !this.claimIsOurs(a, lease));
    this.io('writing', path, () => {
      replaceFile(this.leasesDir, name, `${JSON.stringify(lease)}\n`);
      fsyncDir(this.leasesDir);
    });
    const claimed: string[] = [];
    const undo = (): void => {
      for (const a of claimed) unlinkQuiet(join(this.dir, a));
      this.io('restoring', path, () => {
        if (previous) replaceFile(this.leasesDir, name, `${JSON.stringify(previous)}\n`);
        else unlinkQuiet(path);
        fsyncDir(this.leasesDir);
        fsyncDir(this.dir);
      });
    };
    for (const address of fresh) {
      let ok: boolean;
      try {
        ok = this.io('claiming', join(this.dir, address), () => createFileExclusive(this.dir, address, claimContent(lease.containerID, lease.ifname)));
      } catch (e) {
        undo();
        throw e;
      }
      if (!ok && !this.claimIsOurs(address, lease)) {
        undo();
        const h = this.claimHolder(address);
        throw new CniError(Code.AddressUnavailable, `address ${address} was claimed meanwhile by ${h?.containerID ?? 'another writer'}; retry the ADD`);
      }
      if (ok) claimed.push(address);
    }
    if (JSON.stringify(state) !== JSON.stringify(this.state)) {
      try {
        replaceFile(this.dir, STATE_FILE, `${JSON.stringify(state)}\n`);
        this.state = state;
      } catch {
        // The cursor only spreads allocations over the range; the lease must not fail for it (e.g. ENOSPC).
      }
    }
    this.io('syncing', this.dir, () => fsyncDir(this.dir));
  }

  /** Removes a lease record, then the claims that are still this attachment's. Returns the addresses freed. */
  deleteLease(lease: Lease): string[] {
    const name = leaseFileName(lease.containerID, lease.ifname);
    const path = join(this.leasesDir, name);
    this.io('removing', path, () => {
      unlinkIfExists(path);
      fsyncDir(this.leasesDir);
    });
    const freed: string[] = [];
    for (const a of lease.addresses) {
      if (!this.claimIsOurs(a, lease)) continue;
      try {
        this.io('removing', join(this.dir, a), () => unlinkIfExists(join(this.dir, a)));
      } catch (e) {
        // Put the record back, so the attachment still owns what it could not release.
        this.io('restoring', path, () => {
          replaceFile(this.leasesDir, name, `${JSON.stringify(lease)}\n`);
          fsyncDir(this.leasesDir);
        });
        throw e;
      }
      freed.push(a);
    }
    this.io('syncing', this.dir, () => fsyncDir(this.dir));
    return freed;
  }

  /** Removes a claim that no record owns (a leak left by a crash). */
  removeClaim(address: string): void {
    this.io('removing', join(this.dir, address), () => {
      unlinkQuiet(join(this.dir, address));
      fsyncDir(this.dir);
    });
  }

  claimIsOurs(address: string, lease: Pick<Lease, 'containerID' | 'ifname'>): boolean {
    const h = this.claimHolder(address);
    return h !== undefined && h.containerID === lease.containerID && h.ifname === lease.ifname;
  }

  private io<T>(what: string, path: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof CniError) throw e;
      throw ioError(what, path, e);
    }
  }
}
