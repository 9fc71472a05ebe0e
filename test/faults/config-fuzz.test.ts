// The config fuzzer: generated valid configs at the validator's limits (test/helpers/config-limits.ts: the
// most range sets and ranges, /8 and /48-/64 subnets, up to 10,000 excludes in runs, a /96 out of a /64,
// scattered, outside every range; 255-character network names, 1024-character container ids, 15-byte
// ifnames), each run through STATUS, ADD, CHECK, DEL and ADD again, in-process through runPlugin with the disk
// store. Checked against a model written here: every address lies in its range set, is neither excluded nor
// the gateway nor IPv4-mapped, is held once; an ADD fails (code 100) exactly when a range set has no assignable address left,
// and STATUS says so (code 50); DEL frees everything. Not timed: the calls run in worker threads, two configs at
// once (each config its own seeded sequence, so a run replays whatever order they finish in), and one that
// has not answered after HANG_MS is reported as a hang (how fast they are is the benchmark's limits row).
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code } from '../../src/base/errors';
import type { PluginRun } from '../../src/plugin/dispatch';
import { buildRangeSets } from '../../src/config/ranges';
import { type Ip, formatIp, lastOf, networkOf, parseCidrLoose, parseIp } from '../../src/net/ip';
import type { Range } from '../../src/net/range';
import { MAX_CONTAINER_ID, MAX_IFNAME, idOf, limitsConfig } from '../helpers/config-limits';
import { pool, readNetwork, rng, scaled, tempDataDir } from '../helpers/leasehold';

const CASES = scaled(24, 4);
const SEED = Number(process.env.LEASEHOLD_FAULT_SEED ?? Date.now() % 1_000_000);
/** A hang guard, not a timing: a call at the limits answers in milliseconds (docs/performance.md). */
const HANG_MS = 30_000;

/** Configs run at once, each in its own worker: the calls are CPU-bound, and the machine has two cores. */
const LANES = 2;
const root = tempDataDir('lh-fault-config-');
const workers: Worker[] = [];

beforeAll(async () => {
  const outfile = join(root.dir, 'worker.cjs');
  await build({
    entryPoints: [join(__dirname, 'config-fuzz-worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile,
    define: { LEASEHOLD_VERSION: '"fuzz"' },
    logLevel: 'warning',
  });
  for (let i = 0; i < LANES; i++) workers.push(new Worker(outfile));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
  root.remove();
});

/** One CNI call in a worker; a call that does not answer within HANG_MS fails the test as a hang. */
function call(worker: Worker, what: string, env: Record<string, string>, stdin: string): Promise<PluginRun & { json: any }> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      worker.removeAllListeners('message');
      worker.removeAllListeners('error');
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what} did not answer within ${HANG_MS} ms (a hang)`));
    }, HANG_MS);
    worker.once('error', (e) => {
      done();
      reject(new Error(`${what} crashed the plugin's thread: ${e.stack ?? e}`));
    });
    worker.once('message', (r: PluginRun) => {
      done();
      resolve({ ...r, json: r.stdout ? JSON.parse(r.stdout) : undefined });
    });
    worker.postMessage({ env, stdin });
  });
}

interface Span {
  family: 4 | 6;
  first: bigint;
  last: bigint;
}

/** The model: assignable addresses counted by sweeping the clipped excludes, one range at a time. */
function assignable(range: Range, excludes: Span[]): bigint {
  const clipped = excludes
    .filter((s) => s.family === range.family && s.last >= range.start && s.first <= range.end)
    // biome-ignore lint/complexity/useMathMinMax: bigints, which Math.min and Math.max do not take
    .map((s) => [s.first < range.start ? range.start : s.first, s.last > range.end ? range.end : s.last] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let excluded = 0n;
  let upTo = range.start - 1n;
  for (const [first, last] of clipped) {
    const from = first > upTo ? first : upTo + 1n;
    if (last >= from) excluded += last - from + 1n;
    if (last > upTo) upTo = last;
  }
  const gw = range.gateway;
  const gwCounts = gw >= range.start && gw <= range.end && !clipped.some(([f, l]) => gw >= f && gw <= l);
  return range.end - range.start + 1n - excluded - (gwCounts ? 1n : 0n);
}

describe(`config fuzzer: ${CASES} configs at the limits (seed ${SEED}; replay with LEASEHOLD_FAULT_SEED=${SEED})`, () => {
  it('every verb answers, and every answer agrees with the model', async () => {
    let calls = 0;
    let exhausted = 0;
    let addresses = 0;
    const runCase = async (n: number, worker: Worker): Promise<void> => {
      const r = rng(SEED * 1_000_003 + n);
      const dataDir = join(root.dir, `case${n}`);
      const { conf, shape } = limitsConfig(r, dataDir);
      const ctx = `case ${n} of seed ${SEED} (${shape})`;
      const stdin = JSON.stringify(conf);
      const sets = buildRangeSets(conf.ipam.ranges as never, (i) => `ipam.ranges[${i}]`);
      const excludes: Span[] = conf.ipam.exclude.map((t) => {
        const c = parseCidrLoose(t);
        return { family: c.ip.family, first: networkOf(c), last: lastOf(c) };
      });
      // IPv4-mapped addresses (::ffff:0:0/96) are never handed out, as if excluded.
      excludes.push({ family: 6, first: 0xffff_0000_0000n, last: 0xffff_ffff_ffffn });
      const capacity = sets.map((set) => set.reduce((sum, range) => sum + assignable(range, excludes), 0n));
      /** attachment → its result's addresses, one per range set: each range set has live.size in use. */
      const live = new Map<string, { id: string; ifname: string; ips: Ip[]; result: unknown }>();
      const roomFor = (): boolean => capacity.every((c) => c > BigInt(live.size));
      const run = async (command: string, id: string, ifname: string, extra: Record<string, unknown> = {}) => {
        calls++;
        const env = { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/fuzz${n}`, CNI_IFNAME: ifname, CNI_PATH: '/usr/lib/cni' };
        const got = await call(worker, `${command} in ${ctx}`, env, Object.keys(extra).length ? JSON.stringify({ ...conf, ...extra }) : stdin);
        expect(got.json?.code, `${command} in ${ctx}: ${got.stdout}`).not.toBe(Code.Internal);
        return got;
      };
      const expectStored = () => {
        const st = readNetwork(join(dataDir, conf.name));
        expect(st.problems, ctx).toEqual([]);
        const held = [...live.values()].flatMap((a) => a.ips.map(formatIp)).sort();
        expect([...st.claims.keys()].sort(), ctx).toEqual(held);
      };
      const status = async () => {
        const s = await run('STATUS', '', '');
        expect(s.exitCode === 0 ? 0 : s.json.code, `STATUS in ${ctx}: ${s.stdout}`).toBe(roomFor() ? 0 : Code.PluginNotAvailable);
      };
      const add = async (k: number) => {
        const idLength = r() < 0.5 ? MAX_CONTAINER_ID : 1 + Math.floor(r() * 64);
        const id = `${idOf(r, idLength - String(k).length - 1)}-${k}`;
        const ifname = `e${k}`.padEnd(r() < 0.5 ? MAX_IFNAME : 4, 'x');
        const room = roomFor();
        const a = await run('ADD', id, ifname);
        if (!room) {
          exhausted++;
          expect(a.json?.code, `ADD with a range set full in ${ctx}: ${a.stdout}`).toBe(Code.RangeExhausted);
          return;
        }
        expect(a.exitCode, `ADD in ${ctx}: ${a.stdout}`).toBe(0);
        const ips: Ip[] = a.json.ips.map((x: { address: string }) => parseIp(x.address));
        expect(ips.length, ctx).toBe(sets.length);
        const taken = new Set([...live.values()].flatMap((l) => l.ips.map(formatIp)));
        ips.forEach((ip, i) => {
          const text = formatIp(ip);
          const range = sets[i]!.find((x) => x.family === ip.family && ip.value >= x.start && ip.value <= x.end);
          expect(range, `${text} is outside range set ${i} in ${ctx}`).toBeDefined();
          expect(ip.value, `${text} is the gateway in ${ctx}`).not.toBe(range!.gateway);
          const hit = excludes.findIndex((s) => s.family === ip.family && ip.value >= s.first && ip.value <= s.last);
          expect(hit, `${text} is excluded by ipam.exclude[${hit}] in ${ctx}`).toBe(-1);
          expect(taken.has(text), `${text} handed out twice in ${ctx}`).toBe(false);
          taken.add(text);
        });
        addresses += ips.length;
        live.set(`${id}/${ifname}`, { id, ifname, ips, result: a.json });
      };

      await status();
      const first = 2 + Math.floor(r() * 7);
      for (let k = 0; k < first; k++) await add(k);
      expectStored();
      for (const a of live.values()) {
        const c = await run('CHECK', a.id, a.ifname, { prevResult: a.result });
        expect(c.exitCode, `CHECK in ${ctx}: ${c.stdout}`).toBe(0);
      }
      await status();
      for (const [key, a] of [...live].slice(0, Math.ceil(live.size / 2))) {
        expect((await run('DEL', a.id, a.ifname)).exitCode, ctx).toBe(0);
        live.delete(key);
      }
      await status();
      for (let k = first; k < first + 3; k++) await add(k);
      expectStored();
      for (const [key, a] of [...live]) {
        expect((await run('DEL', a.id, a.ifname)).exitCode, ctx).toBe(0);
        live.delete(key);
      }
      expectStored();
      await status();
    };
    const idle = [...workers];
    await pool(
      Array.from({ length: CASES }, (_, n) => n),
      LANES,
      async (n) => {
        const worker = idle.pop()!;
        try {
          await runCase(n, worker);
        } finally {
          idle.push(worker);
        }
      },
    );
    process.stderr.write(
      `config fuzzer: seed ${SEED}, ${CASES} configs, ${calls} calls, ${addresses} addresses handed out, ${exhausted} ADDs refused on a full range set\n`,
    );
  }, 600_000);
});
