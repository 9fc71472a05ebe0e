// A lock holder that never lets go: every verb gives up after ipam.lockTimeoutMs with code 11 (try again
// later), naming the lock file and the holder's pid, and changes nothing.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectCniError, faultConf, holdLock, lockIsHeld, sleep, startCni, stateTree, tempDataDir, tempFiles } from '../helpers/leasehold';

const TIMEOUT = 300;
// Upper bound on a timed-out call: the timeout plus a Node start-up on a loaded 2-core machine.
const SLACK = 6_000;

describe('lock: a holder that never releases', () => {
  const data = tempDataDir('lh-fault-lock-');
  const conf = faultConf(data.dir, 'locknet', { lockTimeoutMs: TIMEOUT });
  const netDir = join(data.dir, 'locknet');
  const lockPath = join(netDir, 'lock');
  const cleanups: Array<() => void> = [];

  beforeAll(async () => {
    const r = await startCni({ command: 'ADD', containerID: 'existing', stdin: conf }).done;
    expect(r.code, r.stdout).toBe(0);
  });
  afterEach(() => {
    while (cleanups.length) cleanups.pop()!();
  });
  afterAll(() => data.remove());

  for (const holderKind of ['util-linux flock (flock -x -o lock sleep 600)', 'a Node process keeping the locked fd']) {
    it(`ADD, DEL and CHECK time out with code 11 behind ${holderKind}`, async () => {
      let holderPid: number;
      if (holderKind.startsWith('util-linux')) {
        const h = await holdLock(lockPath);
        cleanups.push(() => h.kill());
        holderPid = h.pid;
      } else {
        const h = await holdLockFromNode(lockPath);
        cleanups.push(() => h.kill('SIGKILL'));
        holderPid = h.pid!;
      }
      expect(lockIsHeld(lockPath)).toBe(true);
      const before = stateTree(data.dir);

      const calls = [
        { command: 'ADD', containerID: 'new-one' },
        { command: 'ADD', containerID: 'existing' },
        { command: 'DEL', containerID: 'existing' },
        { command: 'CHECK', containerID: 'existing' },
      ];
      // All at once: none may block the others or wait past its own timeout.
      const replies = await Promise.all(calls.map((c) => startCni({ ...c, stdin: conf }).done));
      replies.forEach((r, i) => {
        const ctx = `${calls[i]!.command} ${calls[i]!.containerID}`;
        expectCniError(r, [11], ctx);
        expect(r.json.msg, ctx).toContain(lockPath);
        expect(r.json.msg, ctx).toMatch(new RegExp(`\\bpid ${holderPid}\\b`));
        expect(r.ms, `${ctx} waited at least the timeout`).toBeGreaterThanOrEqual(TIMEOUT);
        expect(r.ms, `${ctx} gave up soon after the timeout`).toBeLessThan(TIMEOUT + SLACK);
      });
      expect(stateTree(data.dir)).toEqual(before);
      expect(tempFiles(data.dir)).toEqual([]);
    }, 60_000);
  }

  it('lockTimeoutMs 0 fails at once instead of waiting', async () => {
    const h = await holdLock(lockPath);
    cleanups.push(() => h.kill());
    const r = await startCni({ command: 'ADD', containerID: 'zero', stdin: faultConf(data.dir, 'locknet', { lockTimeoutMs: 0 }) }).done;
    expectCniError(r, [11]);
    expect(r.json.msg).toContain(lockPath);
    expect(r.ms).toBeLessThan(SLACK);
  }, 30_000);

  it('a larger timeout is honoured: the call waits, then succeeds once the holder lets go', async () => {
    const h = await holdLock(lockPath);
    cleanups.push(() => h.kill());
    const run = startCni({ command: 'ADD', containerID: 'patient', stdin: faultConf(data.dir, 'locknet', { lockTimeoutMs: 20_000 }) });
    await sleep(1_500);
    expect(run.child.exitCode, 'still waiting well past 300 ms').toBeNull();
    h.kill();
    const r = await run.done;
    expect(r.code, r.stdout).toBe(0);
  }, 30_000);
});

/** Holds the lock the way leasehold does: util-linux flock on an inherited fd, then the pid in the file. */
async function holdLockFromNode(lockPath: string): Promise<ChildProcess> {
  const script = `
    const fs = require('fs'); const cp = require('child_process');
    const fd = fs.openSync(process.argv[1], fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    const r = cp.spawnSync('/usr/bin/flock', ['-x', '3'], { stdio: ['ignore', 'ignore', 'inherit', fd] });
    if (r.status !== 0) process.exit(3);
    fs.ftruncateSync(fd, 0); fs.writeSync(fd, process.pid + '\\n', 0);
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1e6);`;
  const child = spawn(process.execPath, ['-e', script, lockPath], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH } });
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d) => String(d).includes('locked') && res());
    child.on('exit', (c) => rej(new Error(`lock holder exited ${c}`)));
  });
  expect(readFileSync(lockPath, 'latin1').trim()).toBe(String(child.pid));
  return child;
}
