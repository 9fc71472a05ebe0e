// The state fuzzer: seeded mutations of every kind of file a network's directory can hold (layout.ts: the
// state, the cursors link, lease records, claims, the lock, host-local's files, the cluster journal), then every
// plugin verb and every CLI command but migrate (which needs etcd, and reads nothing of this directory's but
// what the others read) in a shuffled order, in-process. After every call: never code 999 or an internal
// error, never a hang (a watchdog thread unblocks any FIFO a call waits on and fails the state), nothing
// outside the data directory changed (sentinel files, and the targets of the links the mutations plant), DEL
// frees what is the attachment's, ADD changes nothing it cannot read and never hands out a claimed address,
// and the read-only verbs and commands change nothing.
// LEASEHOLD_FAULT_SEED picks the seed, LEASEHOLD_FUZZ_MS the time spent, LEASEHOLD_FUZZ_STATE one state to replay,
// LEASEHOLD_FUZZ_TRACE a file that logs each call before it runs.
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  cpSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlugin } from '../../src/plugin/dispatch';
import { DiskStore } from '../../src/store/disk/disk-store';
import { claimAddress, parseClaim } from '../../src/store/disk/layout';
import { leaseFileName } from '../../src/store/node/names';
import { decodeLease } from '../../src/store/lease';
import { EtcdCluster, etcdMissing } from '../helpers/etcd-cluster';
import { isRoot } from '../helpers/host';
import { type CliRun, cliIn, type Entry, tree } from '../helpers/leasehold';

const SEED = Number(process.env.LEASEHOLD_FAULT_SEED ?? Date.now() % 1_000_000);
const BUDGET_MS = Number(process.env.LEASEHOLD_FUZZ_MS ?? 20_000);
const ONLY = process.env.LEASEHOLD_FUZZ_STATE === undefined ? undefined : Number(process.env.LEASEHOLD_FUZZ_STATE);
// Far past any call's own bound (the lock waits 1 s, an etcd call 2 s): a loaded CI machine is no hang.
const HANG_MS = 15_000;
/** No call started for this long (a spin no timer can end): the watchdog names the call and stops the process. */
const SPIN_MS = 90_000;
/** A file to append each call to before it runs: what a run that never ends was doing. */
const TRACE = process.env.LEASEHOLD_FUZZ_TRACE;

const root = mkdtempSync(join(tmpdir(), 'lh-fuzz-state-'));
const TEMPLATE = join(root, 'template');
const NET = 'net1';

/** mulberry32: small, seedable, the same sequence on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
type Rand = ReturnType<typeof rng>;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

// ---- one state's place: <state>/data (the data dir), <state>/outside (sentinels), <state>/op.log, keep.json

const confOf = (state: string, extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '1.1.0',
    name: NET,
    type: 'bridge',
    ipam: {
      type: 'leasehold',
      dataDir: join(state, 'data'),
      ranges: [[{ subnet: '10.9.0.0/28' }], [{ subnet: 'fd00::/124' }]],
      lockTimeoutMs: 1000,
      logFile: join(state, 'op.log'),
      ...ipam,
    },
    ...extra,
  });

const deps = { storeFor: async (c: { dataDir: string }) => new DiskStore(c.dataDir), stdinIsTerminal: () => false };

async function plugin(state: string, command: string, id: string, ifname = 'eth0', extra: Record<string, unknown> = {}) {
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: id ? `/run/netns/fuzz-${id}` : '', CNI_IFNAME: ifname, CNI_PATH: '/nonexistent' };
  const r = await runPlugin(env, () => confOf(state, extra), deps);
  let json: any;
  try {
    json = r.stdout ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

// ---- snapshots

/** A network directory as a call found it: owners and small files' text too; `outside` with times. */
const snapshot = (dir: string, times = false): Map<string, Entry> => tree(dir, { owner: true, text: true, times, linkRoot: true });

const same = (a: Entry | undefined, b: Entry | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);

/** What changed between two snapshots of a network directory (the lock's pid bytes and temp files aside). */
function changes(before: Map<string, Entry>, after: Map<string, Entry>): string[] {
  const out: string[] = [];
  for (const [p, e] of before) {
    const a = after.get(p);
    if (p === 'lock' && a && a.kind === 'file' && e.kind === 'file') continue;
    if (!same(e, a)) out.push(p);
  }
  // Taking the lock makes its file, and an open for change the leases directory: neither holds anything yet.
  for (const [p, e] of after) if (!before.has(p) && !(p === 'lock' && e.kind === 'file') && !(p === 'leases' && e.kind === 'dir')) out.push(p);
  return out;
}

/** The claims (regular files named by a canonical address) and whom each names. */
function claimsIn(snap: Map<string, Entry>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, e] of snap) {
    if (p.includes('/') || e.kind !== 'file' || !claimAddress(p)) continue;
    const h = parseClaim(e.text ?? '');
    out.set(p, h ? `${h.containerID}/${h.ifname}` : '');
  }
  return out;
}

// ---- the template: three attachments (dual-stack), host-local's leftovers, a cluster journal entry

const ATTS = [
  { id: 'a', ifname: 'eth0' },
  { id: 'b', ifname: 'eth0' },
  { id: 'c', ifname: 'net1' },
];

async function makeTemplate(): Promise<void> {
  mkdirSync(TEMPLATE, { recursive: true });
  for (const { id, ifname } of ATTS) {
    const r = await plugin(TEMPLATE, 'ADD', id, ifname);
    if (r.exitCode !== 0) throw new Error(`template ADD ${id}: ${r.stdout}`);
  }
  const dir = join(TEMPLATE, 'data', NET);
  writeFileSync(join(dir, 'last_reserved_ip.0'), '10.9.0.9');
  writeFileSync(join(dir, 'last_reserved_ip.1'), 'fd00::9');
  writeFileSync(join(dir, '10.9.0.9'), 'hostlocal\r\neth0'); // host-local's reservation, no record
  mkdirSync(join(dir, 'released'), { mode: 0o700 });
  writeFileSync(
    join(dir, 'released', 'gone@eth0.json'),
    `${JSON.stringify({ containerID: 'gone', ifname: 'eth0', network: NET, at: new Date().toISOString() })}\n`,
  );
  // Outside the data directory: what a planted link points at. Each looks like something leasehold reads.
  const outside = join(TEMPLATE, 'outside');
  mkdirSync(join(outside, 'dir'), { recursive: true });
  writeFileSync(join(outside, 'file'), 'sentinel\n');
  writeFileSync(join(outside, 'dir', 'x'), 'sentinel\n');
  writeFileSync(join(outside, 'claim-a'), 'a\r\neth0');
  writeFileSync(join(outside, 'lease-a.json'), readFileSync(join(dir, 'leases', leaseFileName('a', 'eth0'))));
  writeFileSync(join(outside, 'state.json'), readFileSync(join(dir, 'leasehold.json')));
  writeFileSync(join(TEMPLATE, 'keep.json'), JSON.stringify([{ containerID: 'a', ifname: 'eth0' }]));
  rmSync(join(TEMPLATE, 'op.log'), { force: true });
}

// ---- mutations

const NON_CANONICAL = ['10.9.0.02', '010.9.0.2', '10.9.0.2/28', ' 10.9.0.2', '10.9.0.2\n', 'FD00::2', 'fd00:0::2', '::ffff:10.9.0.2', '10.9.0.2.', ''];
const FOREIGN = [
  '10.9.0.3',
  'fd00::3',
  '192.0.2.1',
  '10.9.0.1',
  '10.9.0.0',
  '10.9.0.15',
  '255.255.255.255',
  '0.0.0.0',
  'fd00::ffff',
  '2001:db8::1',
  'not-an-ip',
];
const HOLDERS = [
  'b\r\neth0',
  'a\r\neth1',
  'a',
  '',
  '\r\n',
  '/../../outside/pwn\r\neth0',
  '../../../outside/pwn\r\neth0',
  'a\r\n../../x',
  'x'.repeat(5000),
  'a\r\neth0\r\nmore',
];
const WRONG = [null, true, 7, -1, 1e300, 'x', [], {}, [null], { '0': 1 }, '../../outside', 'a'.repeat(300)];
// Bounded repeats: on a 256 KiB file of digits, (?:\d+\.){3}\d+ backtracks for hours.
const ADDRESS = /\d{1,3}(?:\.\d{1,3}){3}|fd00::[0-9a-f]{1,4}/;

function garbage(r: Rand): string {
  const parts = ['\0', '\r\n', '{', '}', '[', '"', '\\', '\u00ff', '../', '10.9.0.2', 'fd00::2', 'a', 'eth0', ',', '=', ':', ' ', '\ud800'];
  return Array.from({ length: 1 + Math.floor(r() * 40) }, () => pick(r, parts)).join('');
}

function wrongTypes(r: Rand, text: string): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return JSON.stringify(pick(r, WRONG));
  }
  if (typeof v !== 'object' || v === null || r() < 0.15) return JSON.stringify(pick(r, WRONG));
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  const key = keys.length && r() < 0.85 ? pick(r, keys) : pick(r, ['format', 'cursors', 'addresses', 'containerID', 'extra']);
  const inner = obj[key];
  if (inner && typeof inner === 'object' && r() < 0.5) {
    const ik = Object.keys(inner as object);
    if (ik.length) (inner as Record<string, unknown>)[pick(r, ik)] = pick(r, WRONG);
  } else if (r() < 0.2) delete obj[key];
  else obj[key] = pick(r, WRONG);
  return JSON.stringify(obj);
}

type Kind =
  | 'missing'
  | 'truncated'
  | 'empty'
  | 'garbage'
  | 'large'
  | 'wrong-types'
  | 'non-canonical'
  | 'foreign-address'
  | 'foreign-holder'
  | 'symlink-outside'
  | 'symlink-inside'
  | 'symlink-dangling'
  | 'fifo'
  | 'dir'
  | 'file'
  | 'hardlink-outside'
  | 'owner'
  | 'mode';
const KINDS: Kind[] = [
  'missing',
  'truncated',
  'empty',
  'garbage',
  'large',
  'wrong-types',
  'non-canonical',
  'foreign-address',
  'foreign-holder',
  'symlink-outside',
  'symlink-inside',
  'symlink-dangling',
  'fifo',
  'dir',
  'file',
  'hardlink-outside',
  ...(isRoot ? (['owner', 'mode'] as const) : []),
];

function replace(p: string): void {
  rmSync(p, { recursive: true, force: true });
}

function readText(p: string): string {
  try {
    return lstatSync(p).isSymbolicLink() ? readlinkSync(p) : lstatSync(p).isFile() ? readFileSync(p, 'latin1') : '';
  } catch {
    return '';
  }
}

function writeAs(p: string, text: string): void {
  let link = false;
  try {
    link = lstatSync(p).isSymbolicLink();
  } catch {
    /* missing: a file is made */
  }
  replace(p);
  if (link) symlinkSync(text, p);
  else writeFileSync(p, text, 'latin1');
}

/** Applies one mutation of `kind` to `rel` in the network directory; returns what it did, for the report. */
function mutate(r: Rand, state: string, rel: string, kind: Kind): string {
  const netDir = join(state, 'data', NET);
  const p = rel ? join(netDir, rel) : netDir;
  const outside = join(state, 'outside');
  const text = readText(p);
  switch (kind) {
    case 'missing':
      replace(p);
      return 'removed';
    case 'truncated':
      writeAs(p, text.slice(0, Math.floor(r() * text.length)));
      return 'truncated';
    case 'empty':
      writeAs(p, '');
      return 'emptied';
    case 'garbage': {
      const g = garbage(r);
      writeAs(p, g);
      return `garbage ${JSON.stringify(g)}`;
    }
    case 'large':
      replace(p);
      writeFileSync(p, Buffer.alloc(256 * 1024 + Math.floor(r() * 1024), pick(r, ['0', '{', '\n', 'a'])));
      return 'a large file';
    case 'wrong-types': {
      const t = wrongTypes(r, text);
      writeAs(p, t);
      return `wrong types ${t.slice(0, 120)}`;
    }
    case 'non-canonical':
    case 'foreign-address': {
      const to = pick(r, kind === 'non-canonical' ? NON_CANONICAL : FOREIGN);
      const t = ADDRESS.test(text) ? text.replace(ADDRESS, to) : to;
      writeAs(p, t);
      return `address → ${JSON.stringify(to)}`;
    }
    case 'foreign-holder': {
      if (rel.startsWith('leases/')) {
        const other = readText(join(netDir, 'leases', leaseFileName('b', 'eth0')));
        const t = other || wrongTypes(r, text);
        writeAs(p, t);
        return 'the record of b';
      }
      const h = pick(r, HOLDERS);
      writeAs(p, h);
      return `holder ${JSON.stringify(h.slice(0, 60))}`;
    }
    case 'symlink-outside': {
      const to = join(outside, pick(r, ['file', 'dir', 'claim-a', 'lease-a.json', 'state.json']));
      replace(p);
      symlinkSync(to, p);
      return `symlink to ${to}`;
    }
    case 'symlink-inside': {
      const to = pick(r, ['leasehold.json', 'lock', 'leases', `leases/${leaseFileName('b', 'eth0')}`, '10.9.0.3', '.', '..']);
      replace(p);
      symlinkSync(to, p);
      return `symlink to ${to}`;
    }
    case 'symlink-dangling':
      replace(p);
      symlinkSync(join(outside, 'nonexistent', 'x'), p);
      return 'dangling symlink';
    case 'fifo':
      replace(p);
      spawnSync('mkfifo', [p]);
      return 'FIFO';
    case 'dir':
      replace(p);
      mkdirSync(join(p, 'x'), { recursive: true });
      return 'directory';
    case 'file':
      replace(p);
      writeFileSync(p, text || 'file');
      return 'regular file';
    case 'hardlink-outside': {
      const to = join(outside, pick(r, ['file', 'claim-a', 'lease-a.json', 'state.json']));
      replace(p);
      linkSync(to, p);
      return `hard link of ${to}`;
    }
    case 'owner':
      try {
        chownSync(p, 4242, 4242);
      } catch {
        return 'owner (missing)';
      }
      return 'owned by 4242';
    case 'mode': {
      const m = pick(r, [0, 0o777, 0o4755, 0o200]);
      try {
        chmodSync(p, m);
      } catch {
        return 'mode (missing)';
      }
      return `mode ${m.toString(8)}`;
    }
  }
}

/**
 * Every name a network directory can hold (layout.ts), the ones the template has and some it could have, by
 * kind of file: a state picks a kind first, so that the one state file is mutated as often as all the claims.
 */
function targets(): string[][] {
  const netDir = join(TEMPLATE, 'data', NET);
  const present = [...snapshot(netDir).keys()].filter((p) => !p.startsWith('.'));
  const of = (test: (p: string) => boolean, ...more: string[]): string[] => [...present.filter(test), ...more];
  return [
    [''],
    ['leasehold.json'],
    ['cursors'],
    ['lock'],
    ['leases'],
    of((p) => p.startsWith('leases/'), `leases/${leaseFileName('n', 'eth0')}`), // also a record for the attachment about to be added
    of((p) => claimAddress(p) !== undefined, '10.9.0.12', 'fd00::c', '10.9.0.05'), // also claims without records, a non-canonical name
    of((p) => p.startsWith('last_reserved_ip.')),
    of((p) => p.startsWith('released'), `released/${leaseFileName('b', 'eth0')}`),
  ];
}

// ---- the watchdog: a thread of its own, so that a call blocked in a synchronous read of a FIFO is seen

// flags: [0] the call's number, [1] 1 while a call runs, [2] the number of a call found hung, [3] 1 while the
// test runs, [4] the length of what[]: the running call, for the message when the process is stopped.
const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const flags = new Int32Array(workerData.shared);
const what = new Uint8Array(workerData.what);
let seen = -1, since = Date.now();
function unblock(dir) {
  let names; try { names = fs.readdirSync(dir); } catch { return; }
  for (const n of names) {
    const p = path.join(dir, n);
    let st; try { st = fs.lstatSync(p); } catch { continue; }
    if (st.isDirectory()) unblock(p);
    else if (st.isFIFO()) for (const how of [fs.constants.O_WRONLY, fs.constants.O_RDONLY]) {
      try { const fd = fs.openSync(p, how | fs.constants.O_NONBLOCK); if (how === fs.constants.O_RDONLY) { try { while (fs.readSync(fd, Buffer.alloc(65536)) > 0); } catch {} } fs.closeSync(fd); } catch {}
    }
  }
}
setInterval(() => {
  const seq = Atomics.load(flags, 0);
  if (seq !== seen || Atomics.load(flags, 3) === 0) { seen = seq; since = Date.now(); return; }
  const stuck = Date.now() - since;
  if (Atomics.load(flags, 1) === 1 && stuck > workerData.hangMs && Atomics.load(flags, 2) !== seq) {
    Atomics.store(flags, 2, seq);
    unblock(workerData.root);
  }
  // Still no progress: a spin (or a wait no FIFO explains) that no timer in the main thread can end.
  if (stuck > workerData.spinMs) {
    const doing = Buffer.from(what.slice(0, Atomics.load(flags, 4))).toString();
    fs.writeSync(2, 'state fuzzer: no progress for ' + stuck + ' ms in ' + doing + '; stopping the test process\\n');
    // The etcd this test started would outlive a killed process: stopped, and its and the states' dirs removed.
    for (const pid of workerData.etcdPids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
    for (const dir of [workerData.etcdDir, workerData.root]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    process.kill(process.pid, 'SIGKILL');
  }
}, 200);
`;

// ---- the run

interface Op {
  name: string;
  run(state: string): Promise<{ ok: boolean; failure?: string; detail: string; json?: any }>;
  /** Changes nothing in the network directory (the lock's pid aside). */
  readOnly?: boolean;
  /** Paths a read-only op may still change. */
  exempt?: string;
}

const pluginOp = (command: string, id: string, ifname = 'eth0', extra: Record<string, unknown> = {}): Op => ({
  name: `${command} ${id}/${ifname}`.trim(),
  readOnly: command === 'STATUS',
  async run(state) {
    const r = await plugin(state, command, id, ifname, extra);
    const detail = r.stdout.slice(0, 400);
    if (r.exitCode !== 0 && r.exitCode !== 1) return { ok: false, failure: `exit ${r.exitCode}`, detail };
    if (r.stdout !== '' && (r.json === undefined || r.stdout.trim().includes('\n'))) return { ok: false, failure: 'not one JSON document', detail };
    if (r.exitCode === 1 && (!Number.isInteger(r.json?.code) || typeof r.json?.msg !== 'string')) return { ok: false, failure: 'not a CNI error', detail };
    if (r.json?.code === 999) return { ok: false, failure: 'code 999', detail };
    return { ok: r.exitCode === 0, detail, json: r.json };
  },
});

const cliOp = (args: string[], readOnly: boolean, config = 'conf.json'): Op => ({
  name: `leasehold ${args.join(' ')}`,
  readOnly,
  async run(state) {
    const argv = [...args, '--data-dir', join(state, 'data')];
    if (args[0] !== 'log') argv.push('--config', join(state, config));
    else argv.push('--file', join(state, 'op.log'));
    if (['check', 'release', 'gc', 'import-host-local', 'list', 'status', 'migrate'].includes(args[0]!)) argv.push('--lock-timeout', '1000');
    let r: CliRun;
    try {
      // In-process, its output and what the stores write to stderr themselves captured.
      r = await cliIn(argv.map((a) => a.replace('$STATE', state)));
    } catch (e) {
      return { ok: false, failure: 'runCli threw', detail: (e as Error).stack ?? String(e) };
    }
    const detail = `exit ${r.code}: ${r.stderr.slice(0, 300)}`;
    if (![0, 1, 2].includes(r.code ?? -1)) return { ok: false, failure: `exit ${r.code}`, detail };
    if (/internal error/i.test(r.stderr + r.stdout)) return { ok: false, failure: 'internal error', detail };
    return { ok: r.code === 0, detail };
  },
});

const OPS: Op[] = [
  pluginOp('STATUS', ''),
  pluginOp('CHECK', 'a'),
  pluginOp('ADD', 'a'),
  pluginOp('ADD', 'n'),
  pluginOp('DEL', 'b'),
  pluginOp('DEL', 'a'),
  pluginOp('DEL', 'n'),
  pluginOp('DEL', 'c', 'net1'),
  pluginOp('GC', '', 'eth0', { 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }),
  cliOp(['status'], true),
  cliOp(['list'], true),
  cliOp(['check'], true),
  cliOp(['metrics'], true),
  cliOp(['log'], true),
  cliOp(['release', '--container', 'c', '--force'], false),
  cliOp(['release', '10.9.0.3'], false),
  cliOp(['gc', '--dry-run'], true),
  cliOp(['gc'], false),
  cliOp(['gc', '--keep-from', '$STATE/keep.json'], false),
  cliOp(['import-host-local', '--dry-run'], true),
  cliOp(['import-host-local'], false),
];

/** migrate, when etcd is here: the state's network in cluster mode, a pool of its own on one etcd member. */
// Opening a cluster network replays the node's journal of releases, a dry run too: released/ may change.
const MIGRATE_OPS: Op[] = [{ ...cliOp(['migrate', '--dry-run'], true, 'cluster.json'), exempt: 'released' }, cliOp(['migrate'], false, 'cluster.json')];
let etcd: EtcdCluster | undefined;

interface StateReport {
  index: number;
  mutations: string[];
  problems: string[];
  calls: number;
}

let shared: Int32Array;
let whatBuf: Uint8Array;
let worker: Worker | undefined;
let opSeq = 0;

/** Tells the watchdog what runs now: each step is progress. */
function progress(doing: string): void {
  const bytes = Buffer.from(doing).subarray(0, whatBuf.length);
  whatBuf.set(bytes);
  Atomics.store(shared, 4, bytes.length);
  Atomics.store(shared, 0, ++opSeq);
}

async function guarded<T>(doing: string, f: () => Promise<T>): Promise<T | 'hang'> {
  progress(doing);
  Atomics.store(shared, 1, 1);
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([f(), new Promise<'hang'>((res) => (timer = setTimeout(() => res('hang'), HANG_MS)))]);
    return Atomics.load(shared, 2) === opSeq ? 'hang' : r;
  } finally {
    clearTimeout(timer);
    Atomics.store(shared, 1, 0);
  }
}

const holderOf = (id: string, ifname: string): string => `${id}/${ifname}`;

async function runState(index: number, all: string[][]): Promise<StateReport> {
  progress(`seed ${SEED} state ${index}: making it`);
  const r = rng(SEED * 1_000_003 + index);
  const state = join(root, `s${index}`);
  cpSync(TEMPLATE, state, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(state, 'conf.json'), confOf(state));
  if (etcd)
    writeFileSync(
      join(state, 'cluster.json'),
      confOf(state, {}, { cluster: { etcd: { endpoints: etcd.endpoints }, prefix: `/fuzz${index}`, nodeName: 'node1', timeoutMs: 2000 } }),
    );
  const netDir = join(state, 'data', NET);
  const mutations: string[] = [];
  const count = 1 + Math.floor(r() * 3);
  for (let i = 0; i < count; i++) {
    const rel = pick(r, pick(r, all));
    // Missing files are the commonest fault (a hand clean-up) and lead to first contact and adoption.
    const kind = r() < 0.2 ? 'missing' : pick(r, KINDS);
    let did: string;
    try {
      did = mutate(r, state, rel, kind);
    } catch (e) {
      did = `${kind} not applied (${(e as NodeJS.ErrnoException).code})`; // e.g. under a network dir made a file
    }
    mutations.push(`${rel || '(network dir)'}: ${did}`);
  }
  const ops = [...OPS, ...(etcd ? MIGRATE_OPS : [])];
  for (let i = ops.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ops[i], ops[j]] = [ops[j]!, ops[i]!];
  }
  let outsideBefore = snapshot(join(state, 'outside'), true);
  const problems: string[] = [];
  let calls = 0;
  // DEL may fail only when what it must stand on is broken: the lock, or the network directory itself.
  const delMayFail = mutations.some((m) => m.startsWith('lock:') || m.startsWith('(network dir)'));
  for (const op of ops.slice(0, 8 + Math.floor(r() * (ops.length - 8)))) {
    const before = snapshot(netDir);
    if (TRACE) appendFileSync(TRACE, `state ${index} [${mutations.join('; ')}]: ${op.name}\n`);
    const res = await guarded(`seed ${SEED} state ${index} [${mutations.join('; ')}]: ${op.name}`, () => op.run(state));
    calls++;
    if (res === 'hang') {
      problems.push(`${op.name}: hung past ${HANG_MS} ms`);
      break;
    }
    const after = snapshot(netDir);
    const changed = changes(before, after);
    if (res.failure) problems.push(`${op.name}: ${res.failure}: ${res.detail}`);
    const outsideNow = snapshot(join(state, 'outside'), true);
    const outsideChanged = changes(outsideBefore, outsideNow);
    if (outsideChanged.length) problems.push(`${op.name}: changed outside the data dir: ${outsideChanged.join(', ')}`);
    outsideBefore = outsideNow;
    const unexpected = changed.filter((p) => !op.exempt || !p.startsWith(op.exempt));
    if (op.readOnly && unexpected.length) problems.push(`${op.name}: a read-only call changed ${unexpected.join(', ')}`);
    const [verb, who] = op.name.split(' ');
    if (verb === 'DEL') {
      const [id, ifname] = who!.split('/') as [string, string];
      if (!res.ok && !delMayFail) problems.push(`${op.name}: DEL failed: ${res.detail}`);
      if (res.ok) {
        const left = [...claimsIn(after)].filter(([, h]) => h === holderOf(id, ifname)).map(([a]) => a);
        // With a usable record, the record is what DEL goes by: a claim naming the attachment that its record
        // does not list (only a hand edit makes one) is left for GC. With an unusable one, every claim naming
        // it goes, as in a directory not adopted yet (no state file or no leases/). With no record at all in an
        // adopted one there is nothing to free (a repeated DEL reads no claims; GC frees leaks).
        const adopted = before.has('leases') && before.has('leasehold.json');
        const none = adopted && before.get('leases')?.kind === 'dir' && !before.has(`leases/${leaseFileName(id, ifname)}`);
        const usable = usableRecord(before, id, ifname);
        const wrong = none ? [] : left.filter((a) => !usable || usable.includes(a));
        if (wrong.length) problems.push(`${op.name}: claims naming the attachment remain: ${wrong.join(', ')}`);
        if (after.get('leases')?.kind === 'dir' && after.get(`leases/${leaseFileName(id, ifname)}`)?.kind === 'file')
          problems.push(`${op.name}: its record remains`);
      }
    }
    if (verb === 'ADD') {
      const [id, ifname] = who!.split('/') as [string, string];
      const own = `leases/${leaseFileName(id, ifname)}`;
      // Opening a network with no state is first contact: the open adopts host-local's claims (the state, the
      // cursors, other attachments' records) whatever the ADD then answers. Nothing else may change, its own record
      // least of all.
      const firstContact = !before.has('leasehold.json');
      const adoption = (p: string): boolean =>
        firstContact && (p === 'leasehold.json' || p === 'cursors' || p === 'leases' || (p.startsWith('leases/') && p !== own));
      const refusedChanged = changed.filter((p) => !adoption(p));
      if (!res.ok && refusedChanged.length) problems.push(`${op.name}: a refused ADD changed ${refusedChanged.join(', ')}`);
      if (res.ok) {
        // First contact's adoption may extend another attachment's record with a claim naming it: never replace it.
        const adopted = (p: string): boolean => adoption(p) && p.startsWith('leases/') && extendedRecord(before.get(p), after.get(p));
        const rewritten = changed.filter((p) => before.has(p) && p !== 'cursors' && p !== own && p !== 'leases' && !adopted(p));
        if (rewritten.length) problems.push(`${op.name}: ADD rewrote or removed ${rewritten.join(', ')}`);
        const beforeClaims = claimsIn(before);
        for (const ip of res.json?.ips ?? []) {
          const address = String(ip.address).split('/')[0]!;
          if (before.has(address) && beforeClaims.get(address) !== holderOf(id, ifname)) problems.push(`${op.name}: handed out ${address}, which was claimed`);
          if (claimsIn(after).get(address) !== holderOf(id, ifname)) problems.push(`${op.name}: ${address} is not claimed for it`);
        }
      }
    }
    if (verb === 'GC' && res.ok) {
      const kept = [...claimsIn(before)].filter(([a, h]) => h === holderOf('a', 'eth0') && usableRecord(before, 'a', 'eth0')?.includes(a));
      for (const [a] of kept) if (after.get(a)?.kind !== 'file') problems.push(`${op.name}: freed ${a}, which a listed attachment holds`);
    }
  }
  return { index, mutations, problems, calls };
}

/** The addresses of the attachment's record as it was, if the lease decoder takes it (a real leases/ too). */
/** A record as adoption leaves it: still a file of the same attachment, with every address it had. */
function extendedRecord(before: Entry | undefined, after: Entry | undefined): boolean {
  if (before?.text === undefined || after?.kind !== 'file' || after.text === undefined) return false;
  try {
    const [was, is] = [JSON.parse(before.text), JSON.parse(after.text)];
    return was.containerID === is.containerID && was.ifname === is.ifname && was.addresses.every((a: string) => is.addresses.includes(a));
  } catch {
    return false;
  }
}

function usableRecord(snap: Map<string, Entry>, id: string, ifname: string): string[] | undefined {
  const e = snap.get(`leases/${leaseFileName(id, ifname)}`);
  if (e?.kind !== 'file' || snap.get('leases')?.kind !== 'dir' || e.text === undefined) return undefined;
  const v = decodeLease(e.text, { containerID: id, ifname });
  return typeof v === 'string' ? undefined : v.addresses;
}

describe('state fuzzer: mutated network directories, every verb and command', () => {
  let migrate = 'skipped: ';
  beforeAll(async () => {
    await makeTemplate();
    // migrate moves the disk's leases into a cluster pool: it runs when etcd can be started here.
    const missing = etcdMissing();
    if (missing) migrate += missing;
    else {
      try {
        etcd = await EtcdCluster.start({ members: 1 });
        migrate = 'included';
      } catch (e) {
        migrate += `etcd did not start (${(e as Error).message.slice(0, 200)})`;
      }
    }
    shared = new Int32Array(new SharedArrayBuffer(20));
    whatBuf = new Uint8Array(new SharedArrayBuffer(4096));
    worker = new Worker(WATCHDOG, {
      eval: true,
      workerData: {
        shared: shared.buffer,
        what: whatBuf.buffer,
        root,
        hangMs: HANG_MS,
        spinMs: SPIN_MS,
        etcdPids: etcd?.members.map((m) => m.proc?.pid).filter((p) => p !== undefined) ?? [],
        etcdDir: etcd?.dir,
      },
    });
    worker.unref();
  });
  afterAll(async () => {
    await etcd?.close();
    await worker?.terminate();
    rmSync(root, { recursive: true, force: true });
  });

  it(
    'never 999, never a hang, nothing outside touched, DEL frees, ADD refuses rather than resets',
    async () => {
      const all = targets();
      const started = Date.now();
      Atomics.store(shared, 3, 1);
      const failed: StateReport[] = [];
      let states = 0;
      let calls = 0;
      for (let i = ONLY ?? 0; ONLY === undefined ? Date.now() - started < BUDGET_MS : i === ONLY; i++) {
        const rep = await runState(i, all);
        states++;
        calls += rep.calls;
        if (rep.problems.length) failed.push(rep);
        rmSync(join(root, `s${i}`), { recursive: true, force: true });
        if (failed.length >= 5) break;
      }
      Atomics.store(shared, 3, 0);
      process.stdout.write(
        `state fuzzer: seed ${SEED}, ${states} states, ${calls} calls in ${Date.now() - started} ms (migrate ${migrate}); ${failed.length} failed (replay one: LEASEHOLD_FAULT_SEED=${SEED} LEASEHOLD_FUZZ_STATE=<n>)\n`,
      );
      const report = failed.map((f) => `state ${f.index}: ${f.mutations.join('; ')}\n  ${f.problems.join('\n  ')}`).join('\n');
      expect(report).toBe('');
    },
    BUDGET_MS + 120_000,
  );
});
