// The node-local store: each network in <dataDir>/<network>/ (layout.ts), locked with flock(2).
// Write order makes every crash leave either the old state or a leaked-but-unique claim, never a lost lease:
// ADD writes the record before its claims; DEL removes the record before its claims. Every I/O failure
// becomes a CNI error with code 5 naming the path.
import { type Stats, accessSync, constants, lstatSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LeaseView } from '../../allocator/allocate.js';
import type { Claim } from '../../allocator/leaks.js';
import type { Cooling } from '../../allocator/reuse.js';
import { CniError, Code, ioError } from '../../base/errors.js';
import { type Attachment, isValidId, sameAttachment } from '../../base/ids.js';
import { formatIp } from '../../net/ip.js';
import { planAdoption } from '../adoption.js';
import { type Hold, type ReleasePolicy, decodeCoolingEnd, decodeHold, encodeHold, holdFor, keepsHold } from '../hold.js';
import { type Lease, decodeLease, encodeLease } from '../lease.js';
import { type NetworkState, type StateView, decodeState, emptyState, encodeState } from '../state.js';
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
import {
  ensurePrivateDir,
  exclusiveLinker,
  exists,
  lstatIfExists,
  fsyncDir,
  fsyncPath,
  namesIn,
  readIfExists,
  readlinkIfExists,
  replaceFile,
  replaceSymlink,
  unlinkIfExists,
  unlinkQuiet,
} from '../node/fsutil.js';
import { type Lock, acquireLock, lockNetworkDir, noLock } from '../node/lock.js';
import { LOCK_FILE, leaseFileName } from '../node/names.js';
import {
  COOLING_DIR,
  CURSORS_LINK,
  HOLDS_DIR,
  LEASES_DIR,
  LEGACY_CURSOR,
  STATE_FILE,
  claimAddress,
  claimContent,
  decodeCursorList,
  encodeCursorList,
  holdFileName,
  parseClaim,
} from './layout.js';

const io = <T>(what: string, path: string, f: () => T): T => {
  try {
    return f();
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw ioError(what, path, e);
  }
};

/**
 * The documents `*.json` among `names` in dir, each through its decoder; what cannot be read or decoded apart,
 * and what `nameOf` says belongs under another name (freeing it goes by that name: one stored elsewhere would stay).
 */
function readDocuments<T>(
  dir: string,
  names: string[],
  decode: (text: string) => T | string,
  nameOf: (doc: T) => string,
): { docs: T[]; unreadable: Unreadable[] } {
  const docs: T[] = [];
  const unreadable: Unreadable[] = [];
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const path = join(dir, name);
    let text: string | undefined;
    try {
      text = readIfExists(path);
    } catch (e) {
      unreadable.push({ path, why: ioError('reading', path, e).message });
      continue;
    }
    if (text === undefined) continue;
    const doc = decode(text);
    if (typeof doc === 'string') unreadable.push({ path, why: doc });
    else if (nameOf(doc) !== name) unreadable.push({ path, why: 'it names an attachment whose record has another name' });
    else docs.push(doc);
  }
  return { docs, unreadable };
}

/** The network's state document with the cursors link's entries, as found in dir. */
function readStateFiles(dir: string): StateView {
  const path = join(dir, STATE_FILE);
  let text: string | undefined;
  try {
    text = readIfExists(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return { status: 'missing' };
    return { status: 'unreadable', why: ioError('reading', path, e).message, path };
  }
  if (text === undefined) return { status: 'missing' };
  const st = decodeState(text, linkedCursors(dir));
  return typeof st === 'string' ? { status: 'unreadable', why: st, path } : st;
}

/** The cursors link's entries. One that cannot be read is shown as an ignored cursor: it never fails a call. */
function linkedCursors(dir: string): Record<string, string> {
  const path = join(dir, CURSORS_LINK);
  try {
    const target = readlinkIfExists(path);
    return target === undefined ? {} : decodeCursorList(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { [CURSORS_LINK]: `${path} ${code === 'EINVAL' ? 'is not a symbolic link' : `cannot be read (${code})`}` };
  }
}

/** Reads one network directory; writes nothing. */
class DiskReader implements NetworkReader {
  constructor(
    readonly location: string,
    readonly network: string,
    protected readonly lock: Lock = noLock(''),
  ) {}

  protected get leasesDir(): string {
    return join(this.location, LEASES_DIR);
  }

  get lockWaitMs(): number {
    return this.lock.waitedMs;
  }

  close(): void {
    this.lock.release();
  }

  state(): StateView {
    return readStateFiles(this.location);
  }

  protected recordPath(att: Attachment): string {
    return join(this.leasesDir, leaseFileName(att.containerID, att.ifname));
  }

  /**
   * Whether leases/ is there; a symlink or any other file in its place is code 5: reading through it would read
   * (and a DEL remove) files outside the data directory.
   */
  protected hasLeasesDir(): boolean {
    const why = this.leasesDirProblem();
    if (why === 'missing') return false;
    if (why !== undefined) throw unreadableError(this.leasesDir, why);
    return true;
  }

  /** What is wrong with leases/ ('missing' when it is not there), or undefined when it is a real directory. */
  protected leasesDirProblem(): string | undefined {
    let st: ReturnType<typeof lstatIfExists>;
    try {
      st = lstatIfExists(this.leasesDir);
    } catch (e) {
      return ioError('checking', this.leasesDir, e).message;
    }
    if (st === undefined) return 'missing';
    if (st.isDirectory()) return undefined;
    return st.isSymbolicLink() ? 'it is a symbolic link, not a directory' : 'it is not a directory';
  }

  getLease(att: Attachment): Lease | undefined {
    return this.hasLeasesDir() ? this.readRecord(att) : undefined;
  }

  /** The attachment's record in a leases/ already checked to be a real directory. */
  protected readRecord(att: Attachment): Lease | undefined {
    const path = this.recordPath(att);
    const text = io('reading', path, () => readIfExists(path));
    if (text === undefined) return undefined;
    const lease = decodeLease(text, att);
    if (typeof lease === 'string') throw unreadableError(path, lease);
    return lease;
  }

  listLeases(): { leases: Lease[]; unreadable: Unreadable[] } {
    // A directory only host-local has written to has no records yet.
    if (!this.hasLeasesDir()) return { leases: [], unreadable: [] };
    const names = io('listing', this.leasesDir, () => readdirSync(this.leasesDir));
    const { docs, unreadable } = readDocuments(this.leasesDir, names, decodeLease, (l) => leaseFileName(l.containerID, l.ifname));
    return { leases: docs, unreadable };
  }

  listClaims(): Claim[] {
    const names = io('listing', this.location, () => readdirSync(this.location));
    return names.flatMap((name) => {
      const address = claimAddress(name);
      if (!address) return [];
      const path = join(this.location, name);
      // Read without the lock (a CLI's first look), a claim may be freed after the listing: gone, not an error.
      const st = io('checking', path, () => lstatIfExists(path));
      return st ? [{ address, holder: this.holderIn(address, st), mtimeMs: st.mtimeMs }] : [];
    });
  }

  /**
   * Neither plugin makes a claim that is not a regular file: a link, FIFO or directory there names no one, and
   * is shown (and freed) as an unowned claim rather than stop every command that lists the claims.
   */
  protected holderIn(address: string, st: Stats): Attachment | undefined {
    return st.isFile() ? this.claimHolder(address) : undefined;
  }

  claimHolder(address: string): Attachment | undefined {
    const path = join(this.location, address);
    const text = io('reading', path, () => readIfExists(path));
    return text === undefined ? undefined : parseClaim(text);
  }

  /** A claim that cannot be read (not a regular file, a symlink) is no one's that a record can free. */
  protected claimIsOurs(address: string, att: Attachment): boolean {
    try {
      return sameAttachment(this.claimHolder(address), att);
    } catch {
      return false;
    }
  }

  view(): LeaseView {
    return { isTaken: (ip) => io('checking', this.location, () => exists(join(this.location, formatIp(ip)))) };
  }

  protected get holdsDir(): string {
    return join(this.location, HOLDS_DIR);
  }

  protected get coolingDir(): string {
    return join(this.location, COOLING_DIR);
  }

  /**
   * Whether holds/ or cooling/ is there to read and change: a real directory. One replaced by a symlink or a
   * file is never followed (undefined says so), so nothing is read or removed through it.
   */
  protected ownDir(path: string): boolean | undefined {
    const st = io('checking', path, () => lstatIfExists(path));
    return st === undefined ? false : st.isDirectory() ? true : undefined;
  }

  reuse(): { holds: Hold[]; cooling: Cooling[]; unreadable: Unreadable[] } {
    const holdsDir = this.ownDir(this.holdsDir);
    const { docs: holds, unreadable } = readDocuments(this.holdsDir, holdsDir ? namesIn(this.holdsDir) : [], decodeHold, holdFileName);
    if (holdsDir === undefined) unreadable.push({ path: this.holdsDir, why: 'is not a directory (a symbolic link or a file); it is not followed' });
    const cooling: Cooling[] = [];
    for (const address of this.ownDir(this.coolingDir) ? namesIn(this.coolingDir) : []) {
      if (!claimAddress(address)) continue;
      // A cooldown is a hint: one that cannot be read is no cooldown.
      let target: string | undefined;
      try {
        target = readlinkIfExists(join(this.coolingDir, address));
      } catch {
        continue;
      }
      const until = target === undefined ? undefined : decodeCoolingEnd(target);
      if (until) cooling.push({ address, until });
    }
    return { holds, cooling, unreadable };
  }

  protected readHold(hold: Hold): Hold | undefined {
    if (!this.ownDir(this.holdsDir)) return undefined;
    const path = join(this.holdsDir, holdFileName(hold));
    const text = io('reading', path, () => readIfExists(path));
    const got = text === undefined ? undefined : decodeHold(text);
    return typeof got === 'string' ? undefined : got;
  }

  /** host-local's round-robin positions (last_reserved_ip.<n>), for adoption. */
  protected legacyCursors(): Record<string, string> {
    const cursors: Record<string, string> = {};
    for (const name of io('listing', this.location, () => readdirSync(this.location))) {
      const m = LEGACY_CURSOR.exec(name);
      if (!m) continue;
      let text: string | undefined;
      try {
        text = readIfExists(join(this.location, name))?.trim();
      } catch {
        continue; // a cursor only spreads allocations: one that cannot be read (a link, a FIFO) is ignored
      }
      if (text && claimAddress(text)) cursors[m[1]!] = text;
    }
    return cursors;
  }

  /**
   * The plan that would adopt what host-local left here (leasehold import-host-local --dry-run prints it). An
   * unreadable record stops it (code 5): adopting a claim of its attachment would write over it.
   */
  planAdoption(): Adoption {
    const st = this.state();
    const current = st.status === 'ok' ? st.value.cursors : {};
    const { leases, unreadable } = this.listLeases();
    if (unreadable.length > 0) throw unreadableError(unreadable[0]!.path, unreadable[0]!.why);
    return planAdoption(this.listClaims(), this.legacyCursors(), leases, current);
  }
}

/** One network opened for change, under its flock. */
class DiskSession extends DiskReader implements NetworkSession {
  /** The state as read under the lock, then as this session wrote it: nobody else writes while it is held. */
  private loaded: StateView = { status: 'missing' };

  override state(): StateView {
    return this.loaded;
  }

  readForAdd(att: Attachment): Promise<AddReading> {
    return readOneByOne(this, att);
  }

  /** The state to change: an empty one until a readable one is loaded or written. */
  private get current(): NetworkState {
    return this.loaded.status === 'ok' ? this.loaded.value : emptyState(this.network);
  }

  /**
   * Loads the state; on first contact (create), adopts host-local's files and writes the state. A release (DEL)
   * reads nothing but the attachment's record and claims, so that nothing else that is broken can block it.
   */
  load(opts: Pick<OpenOptions, 'create' | 'release'>): void {
    if (opts.release) return;
    const { create } = opts;
    // Checked on every open: a leases/ replaced by a symlink must not redirect writes outside the data dir.
    if (create) io('preparing', this.leasesDir, () => ensurePrivateDir(this.leasesDir));
    const st = readStateFiles(this.location);
    this.loaded = st;
    if (st.status === 'unreadable') {
      if (create) throw unreadableError(st.path, st.why);
      return;
    }
    if (!adoptsOnOpen(opts, st)) return;
    // A first call killed after making this directory, before syncing its parent, leaves it there undurable,
    // and later calls find it and sync only inside it: until the state exists, an open syncs the whole path
    // first (before the state, whose presence ends it).
    io('syncing', this.location, () => fsyncPath(dirname(this.location)));
    // First contact with this network: take over what host-local left here, so a live node can switch. Records
    // may be here already (a state file removed by hand): they are extended, never replaced.
    this.applyAdoption(this.planAdoption(), true);
  }

  private saveState(state: NetworkState): void {
    io('writing', join(this.location, STATE_FILE), () => {
      replaceFile(this.location, STATE_FILE, encodeState(state));
      fsyncDir(this.location);
    });
    this.saved(state);
  }

  private saved(state: NetworkState): void {
    this.loaded = { status: 'ok', value: state, ignoredCursors: {} };
  }

  async adopt(plan: Adoption): Promise<void> {
    const missing = this.loaded.status === 'missing';
    io('preparing', this.leasesDir, () => ensurePrivateDir(this.leasesDir));
    this.applyAdoption(plan, missing);
  }

  private applyAdoption(plan: Adoption, writeState: boolean): void {
    for (const { lease } of plan.adopted) {
      const name = leaseFileName(lease.containerID, lease.ifname);
      io('writing', join(this.leasesDir, name), () => replaceFile(this.leasesDir, name, encodeLease(lease)));
    }
    if (plan.adopted.length > 0) io('syncing', this.leasesDir, () => fsyncDir(this.leasesDir));
    if (writeState || Object.keys(plan.cursors).length > 0) {
      this.saveState({ ...this.current, cursors: { ...plan.cursors, ...this.current.cursors } });
    }
  }

  async putLease(lease: Lease, previous: Lease | undefined, cursors: Record<string, string>, ending?: Hold): Promise<void> {
    const name = leaseFileName(lease.containerID, lease.ifname);
    const path = join(this.leasesDir, name);
    const toClaim = lease.addresses.filter((a) => !previous?.addresses.includes(a) || !this.claimIsOurs(a, lease));
    // Refused before anything is written: restoring the previous record afterwards would rewrite its file.
    const taken = toClaim.find((a) => io('checking', join(this.location, a), () => exists(join(this.location, a))) && !this.claimIsOurs(a, lease));
    if (taken) throw new ClaimConflict(taken, this.claimHolder(taken)?.containerID);
    io('writing', path, () => {
      replaceFile(this.leasesDir, name, encodeLease(lease));
      fsyncDir(this.leasesDir);
    });
    const claimed: string[] = [];
    const undo = (): void => {
      for (const a of claimed) unlinkQuiet(join(this.location, a));
      io('restoring', path, () => {
        if (previous) replaceFile(this.leasesDir, name, encodeLease(previous));
        else unlinkQuiet(path);
        fsyncDir(this.leasesDir);
        fsyncDir(this.location);
      });
    };
    const claims = exclusiveLinker(this.location, claimContent(lease));
    try {
      for (const address of toClaim) {
        let ok: boolean;
        try {
          ok = io('claiming', join(this.location, address), () => claims.link(address));
        } catch (e) {
          undo();
          throw e;
        }
        if (!ok && !this.claimIsOurs(address, lease)) {
          undo();
          const h = this.claimHolder(address);
          throw new ClaimConflict(address, h?.containerID);
        }
        if (ok) claimed.push(address);
      }
    } finally {
      claims.close();
    }
    const list = encodeCursorList(cursors);
    if (list !== encodeCursorList(this.current.cursors)) {
      try {
        replaceSymlink(this.location, CURSORS_LINK, list);
        this.saved({ ...this.current, cursors });
      } catch {
        // The cursor only spreads allocations over the range; the lease must not fail for it (e.g. ENOSPC).
      }
    }
    // One fsync makes the claims and the cursors link durable together.
    io('syncing', this.location, () => fsyncDir(this.location));
    // A cooldown left on an address claimed now is over; one that comes back after a crash delays nothing held.
    if (this.ownDir(this.coolingDir)) for (const a of toClaim) unlinkQuiet(join(this.coolingDir, a));
    if (ending) await this.endHold(ending);
  }

  async endHold(hold: Hold): Promise<string[]> {
    const current = this.readHold(hold);
    if (!current || current.releasedAt !== hold.releasedAt || current.containerID !== hold.containerID) return [];
    const path = join(this.holdsDir, holdFileName(hold));
    io('removing', path, () => {
      unlinkIfExists(path);
      fsyncDir(this.holdsDir);
    });
    return current.addresses;
  }

  async endCooling(addresses: string[]): Promise<void> {
    if (addresses.length === 0 || !this.ownDir(this.coolingDir)) return;
    io('removing cooldowns in', this.coolingDir, () => {
      for (const a of addresses) unlinkIfExists(join(this.coolingDir, a));
      fsyncDir(this.coolingDir);
    });
  }

  /**
   * What a DEL leaves for the next pod, made durable before the lease's record and claims go (the network
   * directory's fsync that ends the release makes holds/ and cooling/ durable in it). A failure here costs
   * the hold or the cooldown, never the release: DEL frees what is the attachment's.
   */
  private leaveBehind(lease: Lease, policy: ReleasePolicy | undefined): void {
    const hold = holdFor(lease, policy);
    try {
      if (hold) {
        const existing = this.readHold(hold);
        if (existing && keepsHold(existing, lease)) return;
        ensurePrivateDir(this.holdsDir);
        replaceFile(this.holdsDir, holdFileName(hold), encodeHold(hold));
        fsyncDir(this.holdsDir);
      } else if (policy?.coolUntil) {
        const mine = lease.addresses.filter((a) => this.claimIsOurs(a, lease));
        if (mine.length === 0) return;
        ensurePrivateDir(this.coolingDir);
        for (const a of mine) replaceSymlink(this.coolingDir, a, policy.coolUntil);
        fsyncDir(this.coolingDir);
      }
    } catch (e) {
      process.stderr.write(
        `leasehold: ${hold ? 'holding' : 'cooling'} the addresses of ${lease.containerID}/${lease.ifname} failed, releasing them anyway: ${(e as Error).message}\n`,
      );
    }
  }

  async deleteLease(lease: Lease): Promise<string[]> {
    const name = leaseFileName(lease.containerID, lease.ifname);
    const path = join(this.leasesDir, name);
    io('removing', path, () => {
      unlinkIfExists(path);
      fsyncDir(this.leasesDir);
    });
    const freed: string[] = [];
    for (const a of lease.addresses) {
      if (!this.claimIsOurs(a, lease)) continue;
      try {
        io('removing', join(this.location, a), () => unlinkIfExists(join(this.location, a)));
      } catch (e) {
        // Put the record back, so the attachment still owns what it could not release.
        io('restoring', path, () => {
          replaceFile(this.leasesDir, name, encodeLease(lease));
          fsyncDir(this.leasesDir);
        });
        throw e;
      }
      freed.push(a);
    }
    io('syncing', this.location, () => fsyncDir(this.location));
    return freed;
  }

  /**
   * Frees the attachment's record and the claims that name it, whatever else is broken. When its record cannot
   * be used (unreadable, a bad address, a leases/ that is no directory) the claims are found by their content,
   * as host-local's DEL finds them; so are they in a directory not adopted yet (host-local's, before leasehold's
   * first ADD). Otherwise, without a record there is nothing to free: a repeated DEL, which runtimes send
   * routinely, must not read every claim of a large network under its lock (a claim a killed DEL left is
   * leaked, and GC frees it).
   */
  async release(att: Attachment, policy?: ReleasePolicy): Promise<string[]> {
    const dirProblem = this.leasesDirProblem();
    // A leases/ that is not a real directory is left alone (ADD refuses it): its records may be outside.
    if (dirProblem !== undefined && dirProblem !== 'missing') return this.freeClaimsOf(att);
    let lease: Lease | undefined;
    try {
      lease = dirProblem === 'missing' ? undefined : this.readRecord(att);
    } catch (e) {
      if (!(e instanceof CniError)) throw e;
      // An unusable record is still this attachment's (its name says so): removed first, as deleteLease does.
      const path = this.recordPath(att);
      io('removing', path, () => {
        unlinkRecord(path);
        fsyncDir(this.leasesDir);
      });
      return this.freeClaimsOf(att);
    }
    if (lease) {
      this.leaveBehind(lease, policy);
      return this.deleteLease(lease);
    }
    const adopted = dirProblem === undefined && io('checking', this.location, () => exists(join(this.location, STATE_FILE)));
    return adopted ? [] : this.freeClaimsOf(att);
  }

  private freeClaimsOf(att: Attachment): string[] {
    const freed: string[] = [];
    for (const name of io('listing', this.location, () => readdirSync(this.location))) {
      const address = claimAddress(name);
      if (!address || !this.claimIsOurs(address, att)) continue;
      io('removing', join(this.location, address), () => unlinkIfExists(join(this.location, address)));
      freed.push(address);
    }
    if (freed.length > 0) io('syncing', this.location, () => fsyncDir(this.location));
    return freed;
  }

  async removeClaim(address: string): Promise<void> {
    // Only a claim no record owns: a holder whose record is there (or unreadable) keeps it.
    const st = io('checking', join(this.location, address), () => lstatIfExists(join(this.location, address)));
    const holder = st && this.holderIn(address, st);
    if (holder && this.getLease(holder)) return;
    io('removing', join(this.location, address), () => {
      unlinkQuiet(join(this.location, address));
      fsyncDir(this.location);
    });
  }
}

/** Removes a record; a directory in its place is no record, and is left for ADD to refuse and an operator to look at. */
function unlinkRecord(path: string): void {
  try {
    unlinkIfExists(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EISDIR') throw e;
  }
}

/** A directory holds a network if leasehold or host-local has left its marks there. */
function looksLikeNetwork(dir: string): boolean {
  let names: string[];
  try {
    if (!lstatSync(dir).isDirectory()) return false;
    names = readdirSync(dir);
  } catch {
    return false;
  }
  return names.some((n) => n === LOCK_FILE || n === STATE_FILE || n === LEASES_DIR || LEGACY_CURSOR.test(n) || claimAddress(n) !== undefined);
}

export class DiskStore implements Store {
  constructor(readonly location: string) {}

  private dir(network: string): string {
    return join(this.location, network);
  }

  /** The directory of a network that must exist already (the CLI's opens): code 7 when it does not. */
  private existingDir(network: string): string {
    const dir = this.dir(network);
    if (!looksLikeNetwork(dir)) throw new CniError(Code.InvalidConfig, `no network ${network} in ${this.location}`);
    return dir;
  }

  async openForChange(network: string, opts: OpenOptions): Promise<DiskSession> {
    const dir = opts.create ? this.dir(network) : this.existingDir(network);
    const lock = opts.create ? lockNetworkDir(this.location, network, opts.lockTimeoutMs).lock : acquireLock(join(dir, LOCK_FILE), opts.lockTimeoutMs);
    const session = new DiskSession(dir, network, lock);
    try {
      session.load(opts);
      return session;
    } catch (e) {
      session.close();
      throw e;
    }
  }

  /** A reader under the network's lock, taken read-only: it has no method that writes, and opens nothing to write. */
  async readLocked(network: string, lockTimeoutMs: number): Promise<LockedReader & DiskReader> {
    const dir = this.existingDir(network);
    return new DiskReader(dir, network, acquireLock(join(dir, LOCK_FILE), lockTimeoutMs, 'read'));
  }

  readUnlocked(network: string): DiskReader {
    return new DiskReader(this.dir(network), network);
  }

  async networks(): Promise<string[]> {
    return namesIn(this.location)
      .filter((n) => isValidId(n) && looksLikeNetwork(join(this.location, n)))
      .sort();
  }

  async has(network: string): Promise<boolean> {
    return isValidId(network) && looksLikeNetwork(this.dir(network));
  }

  async checkWritable(network: string): Promise<void> {
    io('checking that ADD can write to', this.dir(network), () => {
      let dir = this.dir(network);
      while (!exists(dir) && dirname(dir) !== dir) dir = dirname(dir);
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
      accessSync(dir, constants.W_OK);
      // Root writes into the blocks kept for it: only then does the count of free blocks it can use matter.
      const fs = statfsSync(dir);
      const blocks = process.getuid?.() === 0 ? fs.bfree : fs.bavail;
      if (blocks === 0 || (fs.files > 0 && fs.ffree === 0)) throw Object.assign(new Error('no space left on the file system'), { code: 'ENOSPC' });
    });
  }
}

export type { DiskReader, DiskSession };
