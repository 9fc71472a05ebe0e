// Power loss, not SIGKILL: every state the file system may leave after a crash at any point of a recorded
// ADD/DEL/GC/adoption sequence (persistence model: docs/crash-model.md). Each state is checked in-process from
// its files; a seeded sample of them is also handed to the real executable for every verb and `leasehold check`.
// LEASEHOLD_CRASH_SEED replays a run, LEASEHOLD_CRASH_SCALE multiplies the sampling, LEASEHOLD_CRASH_BINARY sets
// how many states the executable runs on, LEASEHOLD_CRASH_REPORT writes a JSON summary (scripts/crash-mutations.mjs).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Attachment,
  type Call,
  type CrashState,
  type Recording,
  type Scenario,
  checkFiles,
  checkWithBinary,
  loadNetwork,
  crashStates,
  expectationAt,
  key,
  record,
  straceAvailable,
  writeTree,
} from './crash-explorer';
import { type NetState, pool, rng } from '../helpers/leasehold';

const envNumber = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
};
const SCALE = envNumber('LEASEHOLD_CRASH_SCALE', 1);
const SEED = envNumber('LEASEHOLD_CRASH_SEED', (Date.now() % 1_000_000) + 1);
const EXHAUSTIVE_MAX = 8; // up to 256 subsets of un-synced ops per crash point are all tried
const SAMPLES = Math.round(64 * SCALE);
const BINARY_STATES = envNumber('LEASEHOLD_CRASH_BINARY', Math.round(28 * SCALE));

const at = (containerID: string, ifname = 'eth0') => ({ containerID, ifname });

const conf =
  (network: string, ranges: unknown) =>
  (dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    cniVersion: '1.1.0',
    name: network,
    type: 'bridge',
    ...extra,
    ipam: { type: 'leasehold', dataDir, ranges, lockTimeoutMs: 20_000 },
  });

const SCENARIOS: Scenario[] = [
  {
    // A node switching from host-local: the first ADD adopts two reservations and the round-robin cursor.
    name: 'adoption, ADD, DEL, repeated ADD, GC',
    network: 'adoptnet',
    dataDir: '',
    conf: conf('adoptnet', [[{ subnet: '10.99.0.0/24' }]]),
    initial: {
      'adoptnet/10.99.0.5': 'hl-a\r\neth0',
      'adoptnet/10.99.0.6': 'hl-b\r\neth0',
      'adoptnet/last_reserved_ip.0': '10.99.0.6',
      'adoptnet/lock': '',
    },
    initialHolders: [
      { ...at('hl-a'), addresses: ['10.99.0.5'] },
      { ...at('hl-b'), addresses: ['10.99.0.6'] },
    ],
    calls: [
      { verb: 'ADD', att: at('c1') },
      { verb: 'ADD', att: at('c2') },
      { verb: 'DEL', att: at('hl-a') },
      { verb: 'ADD', att: at('c1') },
      { verb: 'DEL', att: at('c1') },
      { verb: 'ADD', att: at('c3') },
      { verb: 'GC', valid: [at('c2'), at('hl-b')] },
      { verb: 'ADD', att: at('c4') },
    ],
  },
  {
    // A data dir and network leasehold creates itself, dual-stack so each lease has two claims.
    name: 'new network, dual-stack ADD, DEL, GC',
    network: 'freshnet',
    dataDir: 'var/lib/cni',
    conf: conf('freshnet', [[{ subnet: '10.98.0.0/24' }], [{ subnet: 'fd00:98::/120' }]]),
    initial: {},
    initialHolders: [],
    calls: [
      { verb: 'ADD', att: at('d1') },
      { verb: 'ADD', att: at('d2') },
      { verb: 'DEL', att: at('d1') },
      { verb: 'ADD', att: at('d3') },
      { verb: 'GC', valid: [at('d3')] },
      { verb: 'DEL', att: at('d3') },
      { verb: 'ADD', att: at('d4') },
    ],
  },
  {
    // A small network (two ranges in one set, so allocation spills over) with interleaved adds and deletes,
    // one container with two interfaces, and a re-ADD of a deleted container.
    name: 'small network, spill-over, two interfaces, re-ADD after DEL',
    network: 'smallnet',
    dataDir: 'cni',
    conf: conf('smallnet', [[{ subnet: '10.97.0.0/29' }, { subnet: '10.97.1.0/29' }]]),
    initial: {},
    initialHolders: [],
    calls: [
      { verb: 'ADD', att: at('e1') },
      { verb: 'ADD', att: at('e1', 'net1') },
      { verb: 'ADD', att: at('e2') },
      { verb: 'ADD', att: at('e3') },
      { verb: 'ADD', att: at('e4') },
      { verb: 'DEL', att: at('e2') },
      { verb: 'ADD', att: at('e5') },
      { verb: 'ADD', att: at('e6') },
      { verb: 'DEL', att: at('e1') },
      { verb: 'ADD', att: at('e2') },
      { verb: 'GC', valid: [at('e1', 'net1'), at('e2'), at('e5'), at('e6')] },
    ],
  },
];

/** A seeded random sequence: LEASEHOLD_CRASH_SCALE makes it longer, LEASEHOLD_CRASH_SEED replays it. */
function randomScenario(seed: number, calls: number): Scenario {
  const random = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const atts = ['r1', 'r2', 'r3', 'r4', 'r5'].flatMap((id) => [at(id), at(id, 'net1')]);
  const live = new Map<string, Attachment>();
  const seq: Call[] = [];
  for (let i = 0; i < calls; i++) {
    const r = random();
    if (r < 0.55 || live.size === 0) {
      const a = pick(atts);
      live.set(key(a), a);
      seq.push({ verb: 'ADD', att: a });
    } else if (r < 0.9) {
      const a = random() < 0.8 ? pick([...live.values()]) : pick(atts);
      live.delete(key(a));
      seq.push({ verb: 'DEL', att: a });
    } else {
      const valid = [...live.values()].filter(() => random() < 0.7);
      for (const k of [...live.keys()]) if (!valid.some((v) => key(v) === k)) live.delete(k);
      seq.push({ verb: 'GC', valid });
    }
  }
  return {
    name: `seeded random sequence of ${calls} calls`,
    network: 'randnet',
    dataDir: 'data',
    conf: conf('randnet', [[{ subnet: '10.96.0.0/24' }]]),
    initial: {},
    initialHolders: [],
    calls: seq,
  };
}
SCENARIOS.push(randomScenario(SEED, Math.round(10 * SCALE)));

interface Finding {
  scenario: string;
  point: number;
  crashBefore: string;
  lost: string[];
  violations: string[];
}

const describeState = (rec: Recording, s: CrashState): Omit<Finding, 'violations'> => ({
  scenario: rec.scenario.name,
  point: s.point,
  crashBefore: rec.ops[s.point]?.what ?? '(end of the sequence)',
  lost: s.lost.map((i) => `#${i} ${rec.ops[i]!.what}`),
});

/** States that differ in what they mean (records, claims, promises), not only in leftover temp file names. */
const meaning = (rec: Recording, s: CrashState): string => {
  const exp = expectationAt(rec, s.point);
  const files = s.key
    .split('\n')
    .filter((l) => !/\/\.[^/]*\.tmp-/.test(l.split('=')[0]!))
    .join('\n');
  return `${[...exp.present.keys()].sort().join(',')}|${[...exp.absent.keys()].sort().join(',')}|${files}`;
};

const skip = !straceAvailable() ? 'strace is missing or may not trace here (scripts/setup.sh installs it)' : '';

describe.skipIf(skip !== '')(`crash states under the power-loss model (seed ${SEED})`, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'lh-crash-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const summary: Record<string, unknown>[] = [];
  afterAll(() => {
    if (process.env.LEASEHOLD_CRASH_REPORT) writeFileSync(process.env.LEASEHOLD_CRASH_REPORT, `${JSON.stringify(summary, null, 1)}\n`);
  });

  for (const [si, sc] of SCENARIOS.entries()) {
    it(`${sc.name}: every crash state loads, keeps acknowledged leases and holds no address twice`, { timeout: 240_000 }, async () => {
      const started = performance.now();
      const rec = record(sc);
      for (const c of rec.calls) expect(c.reply.code, `recorded ${c.verb} ${c.att ? key(c.att) : ''}: ${c.reply.stdout} ${c.reply.stderr}`).toBe(0);
      const recordMs = performance.now() - started;

      const findings: Finding[] = [];
      const byMeaning = new Map<string, CrashState>();
      let states = 0;
      let exhaustive = 0;
      const loaded = new Map<string, NetState>();
      const dir = join(scratch, `s${si}`);
      for (const s of crashStates(rec, { seed: SEED + si, exhaustiveMax: EXHAUSTIVE_MAX, samples: SAMPLES })) {
        states++;
        if (s.how === 'exhaustive') exhaustive++;
        // Many crash points leave the same files: each distinct content is written and read once.
        let net = loaded.get(s.key);
        if (!net) {
          writeTree(s.tree, dir);
          net = loadNetwork(dir, sc);
          loaded.set(s.key, net);
        }
        const violations = checkFiles(net, expectationAt(rec, s.point));
        if (violations.length > 0) findings.push({ ...describeState(rec, s), violations });
        const m = meaning(rec, s);
        if (!byMeaning.has(m)) byMeaning.set(m, s);
      }
      const fileMs = performance.now() - started - recordMs;

      // The executable runs on a seeded sample of the states that differ in meaning.
      const random = rng(SEED * 31 + si);
      const classes = [...byMeaning.values()]
        .map((s) => ({ s, r: random() }))
        .sort((a, b) => a.r - b.r)
        .map((x) => x.s);
      const sample = classes.slice(0, BINARY_STATES);
      let binaryRuns = 0;
      await pool(sample, 2, async (s, i) => {
        const root = join(scratch, `b${si}-${i}`);
        writeTree(s.tree, root);
        const { violations, runs } = await checkWithBinary(rec, root, expectationAt(rec, s.point));
        binaryRuns += runs;
        if (violations.length > 0) findings.push({ ...describeState(rec, s), violations: violations.map((v) => `[binary] ${v}`) });
        rmSync(root, { recursive: true, force: true });
      });
      const binaryMs = performance.now() - started - recordMs - fileMs;

      const ops = rec.ops.filter((o) => o.kind !== 'ack').length;
      const line =
        `crash-states [${sc.name}] seed ${SEED}: ${rec.calls.length} calls, ${ops} file-system ops, ${rec.ops.length + 1} crash points; ` +
        `${states} crash states checked from their files (${exhaustive} by exhaustive subsets, ${states - exhaustive} sampled; ${loaded.size} distinct contents) ` +
        `in ${(fileMs / 1000).toFixed(1)} s; the executable ran ${binaryRuns} times on ${sample.length} of ${classes.length} states that differ in meaning ` +
        `in ${(binaryMs / 1000).toFixed(1)} s; ${findings.length} state(s) broke an invariant`;
      console.log(line);
      summary.push({
        scenario: sc.name,
        seed: SEED,
        states,
        exhaustive,
        distinct: loaded.size,
        classes: classes.length,
        binaryStates: sample.length,
        binaryRuns,
        broken: findings.length,
        findings: findings.slice(0, 50),
      });
      const shown = findings
        .slice(0, 8)
        .map((f) => JSON.stringify(f, null, 1))
        .join('\n');
      expect(findings.length, `${line}\nreplay with LEASEHOLD_CRASH_SEED=${SEED}\n${shown}`).toBe(0);
    });
  }
});

describe.skipIf(skip !== '')('directory creation is durable before the first answer', () => {
  // Regression: the data dir, the network dir and leases/ were created without fsync of their parents, so
  // a power cut after an acknowledged first ADD could lose the whole network (the explorer found 291 states).
  it('fsyncs the parent of every directory the first ADD creates, before it answers', () => {
    const sc = SCENARIOS.find((s) => s.network === 'freshnet')!;
    const rec = record({ ...sc, calls: sc.calls.slice(0, 1) });
    const ack = rec.calls[0]!.ack;
    expect(ack).toBeGreaterThan(0);
    const mkdirs = rec.ops.flatMap((o, i) => (o.kind === 'entry' && o.ino !== null && rec.inodes.get(o.ino)!.dir ? [{ o, i }] : []));
    expect(mkdirs.map(({ o }) => o.what)).toHaveLength(5); // var, lib, cni, freshnet, leases
    for (const { o, i } of mkdirs) {
      const synced = rec.ops.slice(i + 1, ack).some((s) => s.kind === 'fsync' && o.kind === 'entry' && s.ino === o.dir);
      expect(synced, `${o.what}: no fsync of its parent before the ack`).toBe(true);
    }
  });
});
