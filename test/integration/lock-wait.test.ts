// The flock addon waits for the lock in the kernel: a timed-out wait lasts the timeout and not much more, and
// a waiter gets the lock as soon as its holder lets go (no polling interval in between). Measured on the
// addon itself (build/native.node, made by npm run build), so no process start-up blurs the figures. The
// waiter runs in a worker thread, which also checks that the timer interrupts the waiting thread and not
// another of the process's threads. The holder's raised priority is checked on the addon and, with strace,
// in an ADD of the executable.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { straceAvailable } from '../faults/crash-explorer';
import { BIN, ROOT, cniEnv, holdLock, isRoot, netConf, sleep, tempDataDir } from '../helpers/leasehold';

const ADDON = join(ROOT, 'build', 'native.node');
if (!existsSync(ADDON)) throw new Error(`${ADDON} is missing: run npm run build first`);

interface FlockAddon {
  lock(fd: number, timeoutMs: number): boolean;
  raisePriority(): number | null;
  setNice(nice: number): void;
}
const mod = { exports: {} as FlockAddon };
process.dlopen(mod, ADDON);
const addon = mod.exports;

const data = tempDataDir('lh-lock-wait-');
mkdirSync(join(data.dir, 'net'));
const lockPath = join(data.dir, 'net', 'lock');
afterAll(() => data.remove());

/** In a worker: open the lock file, wait up to timeoutMs; reports whether it got the lock and when (hrtime ns). */
function waitInWorker(timeoutMs: number): { started: Promise<void>; done: Promise<{ locked: boolean; at: bigint; waitedMs: number }> } {
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const fs = require('node:fs');
     const mod = { exports: {} };
     process.dlopen(mod, workerData.addon);
     const fd = fs.openSync(workerData.path, 'r+');
     parentPort.postMessage('started');
     const t0 = process.hrtime.bigint();
     const locked = mod.exports.lock(fd, workerData.timeoutMs);
     const at = process.hrtime.bigint();
     fs.closeSync(fd);
     parentPort.postMessage({ locked, at, waitedMs: Number(at - t0) / 1e6 });`,
    { eval: true, workerData: { addon: ADDON, path: lockPath, timeoutMs } },
  );
  let onStart!: () => void;
  const started = new Promise<void>((r) => (onStart = r));
  const done = new Promise<{ locked: boolean; at: bigint; waitedMs: number }>((resolve, reject) => {
    w.on('message', (m) => (m === 'started' ? onStart() : resolve(m)));
    w.on('error', reject);
  });
  return { started, done };
}

describe('flock addon: waiting in the kernel', () => {
  it('a timed-out wait lasts the timeout, not much more, and reports false', async () => {
    const h = await holdLock(lockPath);
    try {
      for (const timeoutMs of [50, 300, 1000]) {
        const fd = openSync(lockPath, 'r+');
        const t0 = process.hrtime.bigint();
        const locked = addon.lock(fd, timeoutMs);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        closeSync(fd);
        expect(locked).toBe(false);
        expect(ms, `timeout ${timeoutMs}`).toBeGreaterThanOrEqual(timeoutMs);
        // The timer re-fires every 5 ms after the deadline; 100 ms covers a busy scheduler.
        expect(ms, `timeout ${timeoutMs}`).toBeLessThan(timeoutMs + 100);
      }
      // Timeout 0: one attempt, no wait.
      const fd = openSync(lockPath, 'r+');
      expect(addon.lock(fd, 0)).toBe(false);
      closeSync(fd);
    } finally {
      h.kill();
      await h.exited;
    }
  });

  it('the same, from a worker thread while the main thread sits in its event loop', async () => {
    const h = await holdLock(lockPath);
    try {
      const r = await waitInWorker(300).done;
      expect(r.locked).toBe(false);
      expect(r.waitedMs).toBeGreaterThanOrEqual(300);
      expect(r.waitedMs).toBeLessThan(400);
    } finally {
      h.kill();
      await h.exited;
    }
  });

  it('a waiter gets the lock as soon as the holder closes it (5 hand-offs in 7 under 20 ms)', async () => {
    const gaps: number[] = [];
    for (let round = 0; round < 7; round++) {
      const fd = openSync(lockPath, 'r+');
      expect(addon.lock(fd, 0)).toBe(true);
      const w = waitInWorker(10_000);
      await w.started;
      // Long enough for the waiter to be asleep in flock; a poller would by now sleep 64 ms at a time.
      await sleep(300);
      const released = process.hrtime.bigint();
      closeSync(fd);
      const r = await w.done;
      expect(r.locked).toBe(true);
      gaps.push(Number(r.at - released) / 1e6);
    }
    gaps.sort((a, b) => a - b);
    // A waiter asleep in flock wakes when the lock is let go; a poller's gap is spread over its 64 ms period and
    // lands under 20 ms in 5 rounds of 7 about 3 % of the time. 20 ms leaves room for two loaded cores.
    expect(gaps[4], `hand-off gaps (ms): ${gaps.map((g) => g.toFixed(2)).join(' ')}`).toBeLessThan(20);
  });

  it('the holder runs 10 nice steps higher while it holds the lock, where it may (root), and goes back after', () => {
    const before = getPriority();
    const restore = addon.raisePriority();
    try {
      if (isRoot) {
        expect(restore).toBe(before);
        expect(getPriority()).toBe(Math.max(-20, before - 10));
      } else expect(restore).toBeNull();
    } finally {
      if (restore !== null) addon.setNice(restore);
    }
    expect(getPriority()).toBe(before);
  });

  it.skipIf(!straceAvailable())('an ADD raises its priority right after taking the lock and puts it back on release, before it answers', () => {
    const d = tempDataDir();
    try {
      const trace = join(d.dir, 'trace');
      const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=flock,close,setpriority,write', '-o', trace, '--', BIN], {
        env: cniEnv({ command: 'ADD', containerID: 'prio' }),
        input: JSON.stringify(netConf(d.dir)),
        encoding: 'utf8',
      });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const calls = readFileSync(trace, 'utf8')
        .split('\n')
        .map((l) => /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(l))
        .filter((m) => m !== null)
        .map((m) => ({ name: m[1]!, args: m[2]!, ret: Number(m[3]) }));
      const locked = calls.findIndex((c) => c.name === 'flock' && c.args.includes('LOCK_EX') && c.ret === 0);
      const lockFd = calls[locked]!.args.split(',')[0]!;
      const raised = calls.findIndex((c, i) => i > locked && c.name === 'setpriority');
      const released = calls.findIndex((c, i) => i > locked && c.name === 'close' && c.args === lockFd);
      const restored = calls.findIndex((c, i) => i > released && c.name === 'setpriority');
      const answered = calls.findIndex((c) => c.name === 'write' && c.args.startsWith('1,'));
      expect(locked).toBeGreaterThanOrEqual(0);
      expect(calls[raised]?.args).toBe('PRIO_PROCESS, 0, -10');
      expect(raised).toBeLessThan(released);
      if (isRoot) {
        expect(calls[restored]?.args).toBe('PRIO_PROCESS, 0, 0');
        expect(restored).toBeLessThan(answered);
      }
    } finally {
      d.remove();
    }
  });
});
