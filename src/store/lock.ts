// The per-network lock: flock(2) on <network>/lock, the same file and call host-local uses, so both
// plugins serialise on one node and the kernel drops the lock the moment its holder dies (no stale window).
// Node has no flock binding; util-linux `flock` locks the open file description we hand it as fd 3,
// and that description stays ours (and locked) after the helper exits.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { CniError, Code, ioError } from '../cni/errors.js';

export interface Lock {
  readonly path: string;
  /** Milliseconds spent waiting for the lock. */
  readonly waitedMs: number;
  release(): void;
}

const FLOCK_BIN = '/usr/bin/flock';

/** Who holds an flock on this inode right now, from /proc/locks (pid, and its command name). */
function describeHolder(fd: number, path: string): string {
  try {
    const ino = fstatSync(fd).ino;
    const pids = readFileSync('/proc/locks', 'latin1')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w[1] === 'FLOCK' && w[5]?.endsWith(`:${ino}`))
      .map((w) => w[4]!);
    // util-linux flock took the lock on our behalf, so /proc/locks may name its (gone) pid; leasehold
    // writes its own pid into the file once it holds the lock.
    const written = readFileSync(path, 'latin1').trim();
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

export function acquireLock(path: string, timeoutMs: number): Lock {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw ioError('opening lock file', path, e);
  }
  const started = performance.now();
  const wait = timeoutMs <= 0 ? ['-n'] : ['-w', (timeoutMs / 1000).toFixed(3)];
  const r = spawnSync(FLOCK_BIN, ['-x', ...wait, '-E', '75', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  const waitedMs = performance.now() - started;
  if (r.status !== 0) {
    const holder = r.status === 75 ? describeHolder(fd, path) : '';
    closeSync(fd);
    if (r.status === 75) {
      throw new CniError(
        Code.TryAgainLater,
        `timed out after ${timeoutMs} ms waiting for lock ${path} (${holder}); retry, or look at that process if it stays stuck`,
        path,
      );
    }
    const why = r.error ? `${(r.error as NodeJS.ErrnoException).code}: ${r.error.message}` : `exit ${r.status}: ${r.stderr?.toString().trim()}`;
    throw new CniError(Code.IoFailure, `could not lock ${path} with ${FLOCK_BIN} (${why}); leasehold needs util-linux flock`, path);
  }
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch {
    /* the pid is a hint for waiters, not part of the lock */
  }
  let held = true;
  return {
    path,
    waitedMs,
    release() {
      if (held) closeSync(fd);
      held = false;
    },
  };
}
