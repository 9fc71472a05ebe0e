// SIGKILL at random moments, including while the network lock is held. After every kill the store must
// load, hold no address twice, and keep every lease whose ADD was acknowledged; and a dead holder's lock
// is free at once (flock dies with its process), so the next call never waits for a timeout.
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressOf, faultConf, holdLock, lockIsHeld, readNetwork, rng, type Running, scaled, sleep, startCni, tempDataDir } from '../helpers/leasehold';

const KILLS = scaled(60, 10);
const CONTAINERS = 24;
const PARALLEL = 4;

// A failing run can be replayed with LEASEHOLD_FAULT_SEED.
const SEED = Number(process.env.LEASEHOLD_FAULT_SEED ?? Date.now() % 1_000_000);

type Model = { kind: 'present'; address: string } | { kind: 'absent' } | { kind: 'unknown' };

/** Waits (up to 2 s) until the process shows as stopped in /proc: 'stopped', or 'running'. */
async function isStopped(pid: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    try {
      if (/^\d+ \(.*\) [Tt] /.test(readFileSync(`/proc/${pid}/stat`, 'latin1'))) return 'stopped';
    } catch {
      return 'running'; // gone
    }
    await sleep(10);
  }
  return 'running';
}

const readPid = (lockPath: string): number => {
  try {
    return Number(readFileSync(lockPath, 'latin1').trim());
  } catch {
    return 0;
  }
};

describe('crash: SIGKILL during ADD/DEL', () => {
  const data = tempDataDir('lh-fault-crash-');
  afterAll(() => data.remove());

  it(`keeps the store consistent across ${KILLS} kills (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const conf = faultConf(data.dir, 'crashnet', { lockTimeoutMs: 60_000 });
    const netDir = join(data.dir, 'crashnet');
    const lockPath = join(netDir, 'lock');
    const warm = await startCni({ command: 'ADD', containerID: 'warmup', stdin: conf }).done;
    expect(warm.code, warm.stdout).toBe(0);

    const model = new Map<string, Model>([['warmup', { kind: 'present', address: addressOf(warm) }]]);
    const ids = Array.from({ length: CONTAINERS }, (_, i) => `crash-${i}`);
    for (const id of ids) model.set(id, { kind: 'absent' });

    // Processes armed to die right after they take the lock (they write their pid into it).
    const armed = new Map<number, { run: Running; delay: number }>();
    const fire = (): void => {
      const pid = readPid(lockPath);
      const a = armed.get(pid);
      if (!a) return;
      armed.delete(pid);
      setTimeout(() => a.run.child.kill('SIGKILL'), a.delay);
    };
    const watcher: FSWatcher = watch(lockPath, fire);

    let kills = 0;
    let killedHoldingLock = 0;
    let rounds = 0;
    const errors: string[] = [];
    try {
      while (kills < KILLS) {
        rounds++;
        const busy = new Set<string>();
        const batch = Array.from({ length: PARALLEL }, () => {
          let id: string;
          do id = ids[Math.floor(random() * ids.length)]!;
          while (busy.has(id));
          busy.add(id);
          const verb = random() < 0.6 ? 'ADD' : 'DEL';
          const run = startCni({ command: verb, containerID: id, stdin: conf });
          const mode = random();
          if (mode < 0.3) {
            // at a random moment of the process's life (start-up, lock wait, or inside the lock)
            setTimeout(() => run.child.kill('SIGKILL'), Math.floor(random() * 300));
          } else if (mode < 0.65) {
            // as soon as it holds the lock, plus 0-40 ms: inside the write sequence
            armed.set(run.child.pid!, { run, delay: Math.floor(random() * 40) });
          }
          return { id, verb, run };
        });
        const replies = await Promise.all(batch.map((b) => b.run.done));
        let killedNow = 0;
        batch.forEach(({ id, verb, run }, i) => {
          armed.delete(run.child.pid!);
          const r = replies[i]!;
          const before = model.get(id)!;
          if (r.signal === 'SIGKILL') {
            killedNow++;
            if (readPid(lockPath) === run.child.pid) killedHoldingLock++;
            model.set(id, { kind: 'unknown' });
          } else if (r.code === 0 && verb === 'ADD') {
            const address = addressOf(r);
            if (before.kind === 'present' && before.address !== address) errors.push(`repeated ADD of ${id} moved it from ${before.address} to ${address}`);
            model.set(id, { kind: 'present', address });
          } else if (r.code === 0 && verb === 'DEL') model.set(id, { kind: 'absent' });
          else errors.push(`${verb} ${id}: exit ${r.code} ${r.stdout.trim()} ${r.stderr.slice(0, 300)}`);
        });
        kills += killedNow;
        if (killedNow === 0 && rounds % 5 !== 0) continue;

        // The audit, after every round that killed something.
        const st = readNetwork(netDir);
        expect(st.problems, `after round ${rounds} (seed ${SEED})`).toEqual([]);
        expect(lockIsHeld(lockPath), 'nobody holds the lock between rounds').toBe(false);
        for (const [id, m] of model) {
          const key = `${id}@eth0`;
          if (m.kind === 'present') {
            expect(st.records.get(key)?.addresses, `acknowledged ADD of ${id} (round ${rounds}, seed ${SEED})`).toEqual([m.address]);
            expect(st.leased.get(m.address), `claim of ${m.address} for ${id} (round ${rounds}, seed ${SEED})`).toBe(key);
          } else if (m.kind === 'absent') {
            expect(st.records.has(key), `acknowledged DEL of ${id} (round ${rounds}, seed ${SEED})`).toBe(false);
          }
        }
        expect(errors, `seed ${SEED}`).toEqual([]);
      }
    } finally {
      watcher.close();
    }

    // Every acknowledged lease still checks out with the plugin itself, and the network still allocates.
    const present = [...model].filter(([, m]) => m.kind === 'present') as Array<[string, { kind: 'present'; address: string }]>;
    const checks = await Promise.all(present.map(([id]) => startCni({ command: 'CHECK', containerID: id, stdin: conf }).done));
    for (const [i, r] of checks.entries()) expect(r.code, `CHECK ${present[i]![0]}: ${r.stdout}`).toBe(0);
    const after = await startCni({ command: 'ADD', containerID: 'after-crashes', stdin: conf }).done;
    expect(after.code, after.stdout).toBe(0);
    expect(present.map(([, m]) => m.address)).not.toContain(addressOf(after));
    const st = readNetwork(netDir);
    const leaks = [...st.claims.keys()].filter((a) => !st.leased.has(a));
    console.log(
      `crash: seed ${SEED}, ${rounds} rounds, ${kills} kills, ${killedHoldingLock} after taking the lock, ${leaks.length} leaked claims, ${present.length} live leases`,
    );
    expect(killedHoldingLock, 'some kills must land while the lock is held').toBeGreaterThan(0);
  }, 280_000);

  it('a killed external lock holder frees the lock at once: the waiting ADD proceeds, and the next ADD does not wait', async () => {
    const conf = faultConf(data.dir, 'holdnet', { lockTimeoutMs: 30_000 });
    const lockPath = join(data.dir, 'holdnet', 'lock');
    expect((await startCni({ command: 'ADD', containerID: 'first', stdin: conf }).done).code).toBe(0);

    const holder = await holdLock(lockPath);
    try {
      const waiting = startCni({ command: 'ADD', containerID: 'waiter', stdin: conf });
      await sleep(800);
      expect(waiting.child.exitCode, 'ADD waits while the lock is held').toBeNull();
      const killedAt = performance.now();
      holder.kill();
      const r = await waiting.done;
      expect(r.code, r.stdout).toBe(0);
      expect(performance.now() - killedAt, 'waiter proceeds right after the holder died').toBeLessThan(5_000);
    } finally {
      holder.kill();
    }
    const next = await startCni({ command: 'ADD', containerID: 'next', stdin: conf }).done;
    expect(next.code, next.stdout).toBe(0);
    expect(next.ms, 'no stale-lock wait').toBeLessThan(5_000);
  }, 60_000);

  it('a leasehold process SIGKILLed while it holds the lock (stopped inside it) does not delay the next one', async () => {
    const conf = faultConf(data.dir, 'stopnet', { lockTimeoutMs: 30_000 });
    const netDir = join(data.dir, 'stopnet');
    const lockPath = join(netDir, 'lock');
    expect((await startCni({ command: 'ADD', containerID: 'first', stdin: conf }).done).code).toBe(0);

    // Catch an ADD right after it took the lock (its pid appears in the lock file) and SIGSTOP it there.
    let caught: Running | undefined;
    for (let attempt = 0; attempt < 30 && !caught; attempt++) {
      const run = startCni({ command: 'ADD', containerID: `victim-${attempt}`, stdin: conf });
      const pid = run.child.pid!;
      let stop: (v: string) => void = () => {};
      const stopped = new Promise<string>((r) => (stop = r));
      const w = watch(lockPath, () => {
        if (readPid(lockPath) !== pid) return;
        run.child.kill('SIGSTOP');
        stop('stopped');
      });
      // Stopped as soon as the signal is sent (then seen stopped in /proc), or done; an attempt whose lock
      // write the watch missed is given up after 3 s.
      const stoppedOrDone = await Promise.race([run.done.then(() => 'done'), stopped.then(() => isStopped(pid)), sleep(3_000).then(() => 'missed')]);
      w.close();
      if (stoppedOrDone === 'stopped' && lockIsHeld(lockPath)) caught = run;
      else {
        run.child.kill('SIGKILL');
        await run.done;
      }
    }
    expect(caught, 'caught a leasehold process inside the lock within 30 attempts').toBeDefined();
    const waiting = startCni({ command: 'ADD', containerID: 'behind-victim', stdin: conf });
    await sleep(800);
    expect(waiting.child.exitCode, 'the next ADD waits behind the stopped holder').toBeNull();
    const killedAt = performance.now();
    caught!.child.kill('SIGKILL');
    const victim = await caught!.done;
    expect(victim.signal).toBe('SIGKILL');
    const r = await waiting.done;
    expect(r.code, r.stdout).toBe(0);
    expect(performance.now() - killedAt, 'proceeds right after the holder died').toBeLessThan(5_000);
    const next = await startCni({ command: 'ADD', containerID: 'after-victim', stdin: conf }).done;
    expect(next.code, next.stdout).toBe(0);
    expect(next.ms, 'no stale-lock wait').toBeLessThan(5_000);
    expect(readNetwork(netDir).problems).toEqual([]);
  }, 120_000);
});
