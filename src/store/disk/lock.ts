// The per-network lock: flock(2) on <network>/lock, the same file and call host-local uses, so both
// plugins serialise on one node, and the kernel drops the lock the moment its holder dies (no stale window).
// Node has no flock binding. The single executable carries a small Node-API addon (native/flock.c) that
// it loads from an unnamed O_TMPFILE in the network directory: nothing is left on disk, and it costs ~1 ms
// where spawning util-linux flock costs ~15 ms. Where the addon cannot load (a plain-script build, a noexec
// mount), util-linux `flock` locks the open file description we pass it as fd 3 instead, which then stays
// ours, locked, after the helper exits. Both give the same kernel lock, and both wait for it in the kernel
// (a blocking flock bounded by a timer), so it passes to the next waiter the moment it is released.
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CniError, Code, ioError } from '../../base/errors.js';
import { type NativeAddon, loadNative } from '../../base/native.js';
import { nowMs } from '../../base/proc.js';

export interface Lock {
  readonly path: string;
  /** Milliseconds spent waiting for the lock. */
  readonly waitedMs: number;
  release(): void;
}

const FLOCK_BIN = '/usr/bin/flock';

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
 */
export function acquireLock(path: string, timeoutMs: number): Lock {
  let entry = heldHere.get(path);
  if (entry) entry.count++;
  else {
    entry = { count: 1, lock: flockAt(path, timeoutMs) };
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

function flockAt(path: string, timeoutMs: number): Lock {
  let fd: number;
  let shared: boolean;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (e) {
    throw ioError('opening lock file', path, e);
  }
  try {
    const st = fstatSync(fd);
    // A FIFO or a device in its place would take the pid we write (or block on it).
    if (!st.isFile()) throw Object.assign(new Error('not a regular file; remove it'), { code: 'EINVAL' });
    // A lock hard-linked to a file elsewhere is that file: the pid must not be written into it.
    shared = st.nlink !== 1;
  } catch (e) {
    closeSync(fd);
    throw ioError('opening lock file', path, e);
  }
  const started = nowMs();
  let locked: boolean;
  let addon: NativeAddon | null;
  try {
    addon = loadNative(dirname(path), (why) => process.stderr.write(`leasehold: flock addon unavailable (${why}); using ${FLOCK_BIN}\n`));
    locked = addon ? addon.lock(fd, timeoutMs) : lockWithUtilLinux(fd, timeoutMs, path);
  } catch (e) {
    closeSync(fd);
    throw e instanceof CniError ? e : ioError('locking', path, e);
  }
  const waitedMs = nowMs() - started;
  if (!locked) {
    const holder = describeHolder(fd);
    closeSync(fd);
    throw new CniError(
      Code.TryAgainLater,
      `timed out after ${timeoutMs} ms waiting for lock ${path} (${holder}); retry, or look at that process if it stays stuck`,
      path,
    );
  }
  try {
    // Overwritten in place at a fixed width (pids have at most 7 digits): truncating first cost ~0.9 ms of
    // every lock hold, a block freed and allocated again through the journal.
    if (!shared) writeSync(fd, `${String(process.pid).padEnd(10)}\n`, 0);
  } catch {
    /* the pid is a hint for waiters, not part of the lock */
  }
  // The holder runs at a higher priority until it lets go, so that in a burst the processes still starting
  // do not take the CPU from the one all the others wait for (native/flock.c says more; measured in
  // docs/performance.md). Without CAP_SYS_NICE it runs as it was.
  const nice = addon?.raisePriority() ?? null;
  let held = true;
  return {
    path,
    waitedMs,
    release() {
      if (held) closeSync(fd);
      held = false;
      if (nice !== null) addon?.setNice(nice);
    },
  };
}
