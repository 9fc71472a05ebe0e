// The per-network lock: flock(2) on <network>/lock, the same file and call host-local uses, so both
// plugins serialise on one node, and the kernel drops the lock the moment its holder dies (no stale window).
// Node has no flock binding. The single executable carries a small Node-API addon (native/flock.c) that
// it loads from an unnamed O_TMPFILE in the network directory: nothing is left on disk, and it costs a
// fraction of spawning util-linux flock (docs/performance.md). Where the addon cannot load (a plain-script build, a noexec
// mount), util-linux `flock` locks the open file description we pass it as fd 3 instead, which then stays
// ours, locked, after the helper exits. Both give the same kernel lock, and both wait for it in the kernel
// (a blocking flock bounded by a timer), so it passes to the next waiter the moment it is released.
// The addon is loaded once per process (base/native.ts): the plugin's sockets to etcd (etcd/transport.ts)
// then use the one the lock loaded.
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CniError, Code, ioError } from '../../base/errors.js';
import { type NativeAddon, loadNative, loadedNative } from '../../base/native.js';
import { nowMs } from '../../base/proc.js';
import { ensurePrivateDir, mkdirsDurable } from './fsutil.js';
import { LOCK_FILE } from './names.js';

export interface Lock {
  readonly path: string;
  /** Milliseconds spent waiting for the lock. */
  readonly waitedMs: number;
  release(): void;
}

const FLOCK_BIN = '/usr/bin/flock';

/**
 * A writer's first step on the node, in either backend: makes <dataDir>/<network>/ (private, its creation
 * durable) if missing, and takes the network's lock in it.
 */
export function lockNetworkDir(dataDir: string, network: string, timeoutMs: number): { dir: string; lock: Lock } {
  const dir = join(dataDir, network);
  try {
    mkdirsDurable(dataDir);
    ensurePrivateDir(dataDir);
    ensurePrivateDir(dir);
  } catch (e) {
    throw ioError('preparing data directory', dir, e);
  }
  return { dir, lock: acquireLock(join(dir, LOCK_FILE), timeoutMs) };
}

function lockWithUtilLinux(fd: number, timeoutMs: number, path: string): boolean {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const wait = timeoutMs <= 0 ? ['-n'] : ['-w', (timeoutMs / 1000).toFixed(3)];
  const r = spawnSync(FLOCK_BIN, ['-x', ...wait, '-E', '75', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.status === 0) return true;
  if (r.status === 75) return false;
  const why = r.error ? `${(r.error as NodeJS.ErrnoException).code}: ${r.error.message}` : `exit ${r.status}: ${r.stderr?.toString().trim()}`;
  throw new CniError(Code.IoFailure, `could not lock ${path} with ${FLOCK_BIN} (${why}); install util-linux`, path);
}

/** Who holds an flock on this inode right now, from /proc/locks (pid, and its command name). */
function describeHolder(fd: number): string {
  try {
    const ino = fstatSync(fd).ino;
    const pids = readFileSync('/proc/locks', 'latin1')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w[1] === 'FLOCK' && w[5]?.endsWith(`:${ino}`))
      .map((w) => w[4]!);
    // When util-linux flock took the lock for its holder, /proc/locks names that helper's (gone) pid;
    // every holder also writes its own pid into the file.
    // Read from our descriptor, not by name: the name may have been replaced meanwhile (by a FIFO, even).
    const head = Buffer.alloc(16);
    const written = head.toString('latin1', 0, readSync(fd, head, 0, head.length, 0)).trim();
    for (const pid of [...pids, written]) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const comm = readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
        return `held by pid ${pid} (${comm})`;
      } catch {
        /* that process is gone; try the next candidate */
      }
    }
  } catch {
    /* best effort only */
  }
  return 'holder unknown';
}

/** Locks this process holds, by path, with how many holders share each. */
const heldHere = new Map<string, { count: number; lock: Lock }>();

/**
 * Takes the lock at `path`. A process that holds it already gets it again at once (flock would make it wait
 * for itself): migrate opens one network's lock through both the disk store and the cluster store.
 * A reader's lock ('read') writes nothing at all: it opens the file read-only, creates no file (a network
 * whose lock file is missing has never had a leasehold or host-local writer, and is read unlocked), writes no
 * pid and loads no addon (which takes an unnamed file in the directory), so it works on a read-only mount.
 */
export function acquireLock(path: string, timeoutMs: number, mode: 'write' | 'read' = 'write'): Lock {
  let entry = heldHere.get(path);
  if (entry) entry.count++;
  else {
    entry = { count: 1, lock: mode === 'write' ? flockAt(path, timeoutMs) : readLockAt(path, timeoutMs) };
    heldHere.set(path, entry);
  }
  const shared = entry;
  let open = true;
  return {
    path,
    waitedMs: shared.count === 1 ? shared.lock.waitedMs : 0,
    release() {
      if (!open) return;
      open = false;
      if (--shared.count > 0) return;
      heldHere.delete(path);
      shared.lock.release();
    },
  };
}

/** No lock at all: what a reader holds where no writer has ever made the lock file, and a lock-free reader. */
export const noLock = (path: string): Lock => ({ path, waitedMs: 0, release: () => {} });

function readLockAt(path: string, timeoutMs: number): Lock {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return noLock(path);
    throw ioError('opening lock file', path, e);
  }
  checkLockFile(fd, path);
  const started = nowMs();
  lockOrFail(fd, timeoutMs, path, loadedNative());
  const waitedMs = nowMs() - started;
  return heldLock(path, fd, waitedMs, () => {});
}

/** A lock held on fd: released (closed, then `after`) once, however often release is called. */
function heldLock(path: string, fd: number, waitedMs: number, after: () => void): Lock {
  let held = true;
  return {
    path,
    waitedMs,
    release() {
      if (!held) return;
      held = false;
      closeSync(fd);
      after();
    },
  };
}

/** Whether the lock file is one of its own (closing the descriptor and throwing when it is not a regular file). */
function checkLockFile(fd: number, path: string): boolean {
  try {
    const st = fstatSync(fd);
    // A FIFO or a device in its place would take the pid we write (or block on it).
    if (!st.isFile()) throw Object.assign(new Error('not a regular file; remove it'), { code: 'EINVAL' });
    // A lock hard-linked to a file elsewhere is that file: the pid must not be written into it.
    return st.nlink !== 1;
  } catch (e) {
    closeSync(fd);
    throw ioError('opening lock file', path, e);
  }
}

/** Waits for the kernel lock on fd (closing it and throwing on failure or timeout). */
function lockOrFail(fd: number, timeoutMs: number, path: string, addon: NativeAddon | null): void {
  let locked: boolean;
  try {
    locked = addon ? addon.lock(fd, timeoutMs) : lockWithUtilLinux(fd, timeoutMs, path);
  } catch (e) {
    closeSync(fd);
    throw e instanceof CniError ? e : ioError('locking', path, e);
  }
  if (!locked) {
    const holder = describeHolder(fd);
    closeSync(fd);
    throw new CniError(
      Code.TryAgainLater,
      `timed out after ${timeoutMs} ms waiting for lock ${path} (${holder}); retry, or look at that process if it stays stuck`,
      path,
    );
  }
}

function flockAt(path: string, timeoutMs: number): Lock {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (e) {
    throw ioError('opening lock file', path, e);
  }
  const shared = checkLockFile(fd, path);
  const started = nowMs();
  let addon: NativeAddon | null;
  try {
    addon = loadNative(dirname(path), (why) => process.stderr.write(`leasehold: flock addon unavailable (${why}); using ${FLOCK_BIN}\n`));
  } catch (e) {
    closeSync(fd);
    throw ioError('locking', path, e);
  }
  lockOrFail(fd, timeoutMs, path, addon);
  const waitedMs = nowMs() - started;
  try {
    // Overwritten in place at a fixed width (pids have at most 7 digits): truncating first would free and
    // allocate a block through the journal on every lock hold (docs/performance.md).
    if (!shared) writeSync(fd, `${String(process.pid).padEnd(10)}\n`, 0);
  } catch {
    /* the pid is a hint for waiters, not part of the lock */
  }
  // The holder runs at a higher priority until it lets go, so that in a burst the processes still starting
  // do not take the CPU from the one all the others wait for (native/flock.c says more; measured in
  // docs/performance.md). Without CAP_SYS_NICE it runs as it was.
  const nice = addon?.raisePriority() ?? null;
  return heldLock(path, fd, waitedMs, () => {
    if (nice !== null) addon?.setNice(nice);
  });
}
