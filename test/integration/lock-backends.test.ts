// The two ways leasehold takes its flock(2): the embedded addon (single executable) and util-linux flock
// (a plain-script build, or where the addon cannot be mapped, e.g. a noexec data dir). Same kernel lock.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/host';
import { ROOT, cniEnv, netConf, runCni, tempDataDir } from '../helpers/leasehold';

const PLAIN = join(ROOT, 'build', 'leasehold.cjs');
let data: ReturnType<typeof tempDataDir>;
beforeEach(() => {
  data = tempDataDir();
});
afterEach(() => data.remove());

/** Holds the network lock from another process, as host-local or a stuck plugin would. */
function holdLock(dataDir: string) {
  mkdirSync(join(dataDir, 'testnet'), { recursive: true });
  // Its own process group: `sleep` inherits the locked descriptor, so the whole group must die to free it.
  const p = spawn('/usr/bin/flock', ['-x', join(dataDir, 'testnet', 'lock'), 'sleep', '30'], { stdio: 'ignore', detached: true });
  spawnSync('sleep', ['0.3']);
  return { kill: () => process.kill(-p.pid!, 'SIGKILL') };
}

describe('util-linux flock, as used by the plain bundle', () => {
  const plain = (id: string, conf: object) =>
    spawnSync(process.execPath, [PLAIN], { env: cniEnv({ command: 'ADD', containerID: id }), input: JSON.stringify(conf), encoding: 'utf8' });

  it('allocates, and times out with code 11 naming the holder while another process holds the lock', () => {
    const conf = netConf(data.dir, { lockTimeoutMs: 400 });
    expect(JSON.parse(plain('a', conf).stdout).ips[0].address).toBe('10.88.0.2/24');
    const holder = holdLock(data.dir);
    try {
      const t0 = Date.now();
      const r = plain('b', conf);
      expect(r.status).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ code: 11, msg: expect.stringMatching(/lock .*testnet\/lock \(held by pid \d+ \(flock\)\)/) });
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      holder.kill();
    }
    expect(JSON.parse(plain('b', conf).stdout).ips[0].address).toBe('10.88.0.3/24');
  });
});

describe('the single executable', () => {
  it('waits lockTimeoutMs, then gives code 11; proceeds at once when the holder dies', () => {
    const logFile = join(data.dir, 'ops.log');
    const conf = netConf(data.dir, { lockTimeoutMs: 300, logFile });
    const lastWait = (): number => JSON.parse(readFileSync(logFile, 'utf8').trim().split('\n').at(-1)!).lockWaitMs;
    const holder = holdLock(data.dir);
    try {
      const t0 = performance.now();
      const r = runCni({ command: 'ADD', containerID: 'a', stdin: conf });
      const ms = performance.now() - t0;
      expect(r.json).toMatchObject({ code: 11 });
      expect(r.stderr).toBe('');
      // It cannot answer before the timeout; the upper bound leaves room for a slow start on a loaded machine.
      expect(ms).toBeGreaterThanOrEqual(300);
      expect(ms).toBeLessThan(300 + 5000);
    } finally {
      holder.kill();
    }
    spawnSync('sleep', ['0.1']);
    expect(runCni({ command: 'ADD', containerID: 'a', stdin: { ...conf, ipam: { ...(conf.ipam as object), lockTimeoutMs: 10_000 } } }).code).toBe(0);
    expect(lastWait()).toBeLessThan(50);
  });

  it.skipIf(!isRoot)('falls back to util-linux flock on a noexec data dir, and says so on stderr', () => {
    const mnt = join(data.dir, 'noexec');
    mkdirSync(mnt);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'noexec,size=1m', 'tmpfs', mnt]).status).toBe(0);
    try {
      const r = runCni({ command: 'ADD', containerID: 'a', stdin: netConf(mnt) });
      expect(r.code, r.stdout).toBe(0);
      expect(r.stderr).toMatch(/flock addon unavailable .*using \/usr\/bin\/flock/);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

describe('one process opening a network twice', () => {
  it('shares the lock it holds (migrate opens a network through two stores); the lock goes with the last release', async () => {
    const { acquireLock } = await import('../../src/store/node/lock');
    const d = tempDataDir();
    try {
      const path = join(d.dir, 'lock');
      const othersTry = (): number | null => spawnSync('flock', ['-n', path, 'true']).status;
      const first = acquireLock(path, 1000);
      const second = acquireLock(path, 0);
      expect(second.waitedMs).toBe(0);
      expect(othersTry()).toBe(1);
      first.release();
      first.release();
      expect(othersTry(), 'still held by the second opener').toBe(1);
      second.release();
      expect(othersTry()).toBe(0);
      const again = acquireLock(path, 0);
      expect(othersTry()).toBe(1);
      again.release();
    } finally {
      d.remove();
    }
  });
});
