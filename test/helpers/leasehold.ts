// The one module of test helpers for driving leasehold: the built executable as a runtime spawns it (plugin)
// and as an operator runs it (CLI), network configs, and reading a network directory the way an auditor would.
// Everything here runs the built executable (LEASEHOLD_BIN overrides it) as separate processes.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

export const ROOT = resolve(__dirname, '..', '..');
/** Tests run against the shipped executable; LEASEHOLD_BIN points them at another build. */
export const BIN = process.env.LEASEHOLD_BIN ?? join(ROOT, 'dist', 'leasehold');

if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);

export interface CniCall {
  command: string;
  containerID?: string;
  ifname?: string;
  netns?: string;
  args?: string;
  stdin?: string | Buffer | object;
  env?: Record<string, string | undefined>;
  /** Another executable than BIN (the arm64 tests run both). */
  bin?: string;
  /** A command that runs the executable (given as its last argument), e.g. unshare for a simulated machine. */
  via?: string[];
}

export interface CniReply {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json: any;
}

/** The child's environment: only what a runtime passes, without variables that slow Node's start. */
export function cniEnv(c: CniCall): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    CNI_COMMAND: c.command,
    CNI_CONTAINERID: c.containerID ?? '',
    CNI_NETNS: c.netns ?? (c.containerID ? `/var/run/netns/${c.containerID}` : ''),
    CNI_IFNAME: c.ifname ?? (c.containerID ? 'eth0' : ''),
    CNI_ARGS: c.args ?? '',
    CNI_PATH: join(ROOT, 'dist'),
    ...c.env,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

const stdinOf = (c: CniCall): string | Buffer =>
  c.stdin === undefined ? '' : typeof c.stdin === 'string' || Buffer.isBuffer(c.stdin) ? c.stdin : JSON.stringify(c.stdin);

export function parseReply(code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): CniReply {
  let json: any;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code, signal, stdout, stderr, json };
}

export function runCni(c: CniCall): CniReply {
  const r = spawnSync(c.bin ?? BIN, [], { env: cniEnv(c), input: stdinOf(c), encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  return parseReply(r.status, r.signal, r.stdout, r.stderr);
}

const stderrCollectors = new Set<{ text: string }>();
let realStderrWrite: typeof process.stderr.write | undefined;

/**
 * What `f` writes to this process's stderr (the plugin and the stores write their warnings there), kept from the
 * terminal. Calls that overlap each see every line written while they run.
 */
export async function capturingStderr<T>(f: () => Promise<T>): Promise<[T, string]> {
  const c = { text: '' };
  if (stderrCollectors.size === 0) {
    realStderrWrite = process.stderr.write;
    process.stderr.write = ((s: string | Uint8Array) => {
      for (const k of stderrCollectors) k.text += typeof s === 'string' ? s : Buffer.from(s).toString();
      return true;
    }) as typeof process.stderr.write;
  }
  stderrCollectors.add(c);
  try {
    return [await f(), c.text];
  } finally {
    stderrCollectors.delete(c);
    if (stderrCollectors.size === 0) process.stderr.write = realStderrWrite!;
  }
}

/** No LEASEHOLD_BIN: suites that may run in-process do (cni below; the crash explorer's checks). */
export const IN_PROCESS = !process.env.LEASEHOLD_BIN;

/** The plugin in this process, through runPlugin with the real stores, as the executable runs it. */
export async function cniIn(c: CniCall): Promise<CniReply> {
  const { runPlugin } = await import('../../src/plugin/dispatch');
  const stdin = stdinOf(c);
  const [r, stderr] = await capturingStderr(() => runPlugin(cniEnv(c), () => stdin.toString()));
  return parseReply(r.exitCode, null, r.stdout, stderr);
}

/**
 * The plugin for suites that test what it answers, not the process: in-process by default; the executable
 * when LEASEHOLD_BIN names one (another build, or another architecture's under qemu).
 */
export const cni = (c: CniCall): Promise<CniReply> => (IN_PROCESS ? cniIn(c) : runCniAsync(c));

export function runCniAsync(c: CniCall): Promise<CniReply> {
  return new Promise((res, rej) => {
    const [bin, ...args] = c.via ? [...c.via, BIN] : [BIN];
    const p = spawn(bin!, args, { env: cniEnv(c), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', rej);
    p.on('close', (code, signal) => res(parseReply(code, signal, out, err)));
    p.stdin.on('error', () => {}); // the plugin may exit before reading all of stdin
    p.stdin.end(stdinOf(c));
  });
}

/** A fresh data dir under the system temp dir; remove() deletes it. */
export function tempDataDir(prefix = 'lh-test-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A network config in the shape a main plugin passes to its IPAM plugin. */
export function netConf(dataDir: string, ipam: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'testnet',
    type: 'bridge',
    ...top,
    ipam: { type: 'leasehold', dataDir, ranges: [[{ subnet: '10.88.0.0/24' }]], ...ipam },
  };
}

// ---- fault suites: scaling, processes, state trees, locks, mounts

/** LEASEHOLD_FAULT_SCALE multiplies every count in these suites (default 1, sized for CI on 2 cores). */
export const SCALE = (() => {
  const v = Number(process.env.LEASEHOLD_FAULT_SCALE ?? '1');
  return Number.isFinite(v) && v > 0 ? v : 1;
})();
export const scaled = (n: number, min = 1): number => Math.max(min, Math.round(n * SCALE));

/** xorshift32, a small deterministic PRNG: a failing run can be replayed from its printed seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

export { isRoot } from './host';
export const NOT_ROOT = 'needs root: mounts tmpfs / uses chattr, and root ignores mode bits anyway (process.getuid() !== 0)';

export interface Running {
  child: ChildProcess;
  started: number;
  done: Promise<CniReply & { ms: number }>;
}

/** Spawns one plugin call and gives back the child (to signal it) and its completion. */
export function startCni(c: CniCall, extraEnv: Record<string, string> = {}, opts: { cwd?: string; killAfterMs?: number } = {}): Running {
  const started = performance.now();
  const child = spawn(BIN, [], { env: { ...cniEnv(c), ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
  if (opts.killAfterMs !== undefined) {
    const t = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
    child.on('exit', () => clearTimeout(t));
  }
  const done = new Promise<CniReply & { ms: number }>((res, rej) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', rej);
    child.on('close', (code, signal) => res({ ...parseReply(code, signal, out, err), ms: performance.now() - started }));
  });
  child.stdin!.on('error', () => {});
  const input = c.stdin === undefined ? '' : typeof c.stdin === 'string' || Buffer.isBuffer(c.stdin) ? c.stdin : JSON.stringify(c.stdin);
  child.stdin!.end(input);
  return { child, started, done };
}

/** Runs tasks with at most `n` in flight. */
export async function pool<T, R>(items: readonly T[], n: number, f: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A CNI error as the spec shapes it: exit 1, one JSON object with cniVersion, numeric code and msg. */
export function expectCniError(r: CniReply, codes?: number[], ctx = ''): void {
  const where = `${ctx}\nexit=${r.code} signal=${r.signal}\nstdout=${r.stdout.slice(0, 2000)}\nstderr=${r.stderr.slice(0, 2000)}`;
  expect(r.signal, where).toBeNull();
  expect(r.code, where).toBe(1);
  expect(r.json, where).toBeTypeOf('object');
  expect(typeof r.json.cniVersion, where).toBe('string');
  expect(Number.isInteger(r.json.code), where).toBe(true);
  expect(typeof r.json.msg, where).toBe('string');
  expect(r.stdout.trim().split('\n'), where).toHaveLength(1);
  expect(r.stdout, where).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace on stdout
  if (codes) expect(codes, where).toContain(r.json.code);
}

export function expectOk(r: CniReply, ctx = ''): void {
  expect(r.code, `${ctx}\nstdout=${r.stdout}\nstderr=${r.stderr}`).toBe(0);
}

export interface Entry {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  /** The owner ({ owner: true }). */
  uid?: number;
  /** The modification time ({ times: true }). */
  mtimeMs?: number;
  hash?: string;
  target?: string;
  /** A small file's text ({ text: true }), to judge what it held. */
  text?: string;
}

export interface TreeOptions {
  owner?: boolean;
  times?: boolean;
  /** The text of files under 64 KiB. */
  text?: boolean;
  /** A root that is a symbolic link is listed as the link (path ''), not walked through. */
  linkRoot?: boolean;
}

/** Recursive listing of `root`: relative path → kind, permission bits and content hash, and what `o` asks for. */
export function tree(root: string, o: TreeOptions = {}): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const entry = (p: string): Entry => {
    const st = lstatSync(p);
    const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    const e: Entry = { kind, mode: st.mode & 0o7777, ...(o.owner && { uid: st.uid }), ...(o.times && { mtimeMs: st.mtimeMs }) };
    if (kind === 'symlink') e.target = readlinkSync(p);
    else if (kind === 'file') {
      const bytes = readFileSync(p);
      e.hash = createHash('sha256').update(bytes).digest('hex');
      if (o.text && bytes.length < 65536) e.text = bytes.toString('utf8');
    }
    return e;
  };
  if (o.linkRoot) {
    try {
      if (lstatSync(root).isSymbolicLink()) return out.set('', entry(root));
    } catch {
      return out;
    }
  }
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(rel ? join(root, rel) : root);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const e = entry(join(root, r));
      out.set(r, e);
      if (e.kind === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}

/** The same tree, without the lock file's content (leasehold writes its pid there on every lock). */
export function stateTree(root: string): Record<string, Entry> {
  const t = tree(root);
  return Object.fromEntries([...t].map(([k, v]) => [k, k.endsWith('/lock') || k === 'lock' ? { ...v, hash: '(lock)' } : v]));
}

/** Temp files leasehold writes before rename/link: ".<name>.tmp-<pid>-<seq>". */
export function tempFiles(root: string): string[] {
  return [...tree(root).keys()].filter((p) => {
    const base = p.split('/').pop()!;
    return base.startsWith('.') && base.includes('.tmp-');
  });
}

export interface Lease {
  format: number;
  containerID: string;
  ifname: string;
  addresses: string[];
  [field: string]: unknown;
}

export interface NetState {
  state: unknown;
  records: Map<string, Lease>; // "<id>@<ifname>" → record
  claims: Map<string, { containerID: string; ifname: string }>; // address → holder
  /** address → attachment key, for addresses that are leased (claim whose holder's record lists it). */
  leased: Map<string, string>;
  /** "<namespace>/<name>@<ifname>" → the addresses its hold keeps (holds/, ipam.sticky). */
  holds: Map<string, string[]>;
  /** address → when its cooldown ends (cooling/, ipam.reuseCooldownSeconds). */
  cooling: Map<string, string>;
  problems: string[];
}

const isAddressName = (n: string): boolean => /^[0-9a-f.:]+$/i.test(n) && !n.startsWith('.') && n !== 'lock';

/** Loads a network directory the way an auditor would, collecting every broken invariant in `problems`. */
export function readNetwork(netDir: string): NetState {
  const problems: string[] = [];
  let state: unknown;
  const statePath = join(netDir, 'leasehold.json');
  if (existsSync(statePath)) {
    try {
      state = JSON.parse(readFileSync(statePath, 'utf8'));
      const s = state as { format?: unknown; cursors?: unknown };
      if (s.format !== 1 || typeof s.cursors !== 'object' || s.cursors === null) problems.push(`leasehold.json has a bad shape: ${JSON.stringify(state)}`);
    } catch (e) {
      problems.push(`leasehold.json does not parse: ${(e as Error).message}`);
    }
  }
  // The round-robin cursors link: a symlink whose target lists "<range set>=<address>" entries.
  const cursorsPath = join(netDir, 'cursors');
  if (existsSync(netDir) && readdirSync(netDir).includes('cursors')) {
    if (!lstatSync(cursorsPath).isSymbolicLink()) problems.push('cursors is not a symbolic link');
    else if (
      !readlinkSync(cursorsPath)
        .split(',')
        .every((e) => /^\d+=/.test(e) && isAddressName(e.replace(/^\d+=/, '')))
    )
      problems.push(`cursors -> ${readlinkSync(cursorsPath)}`);
  }
  const records = new Map<string, Lease>();
  const leasesDir = join(netDir, 'leases');
  for (const name of existsSync(leasesDir) ? readdirSync(leasesDir) : []) {
    if (name.startsWith('.') || !name.endsWith('.json')) continue;
    try {
      const l = JSON.parse(readFileSync(join(leasesDir, name), 'utf8')) as Lease;
      if (l.format !== 1 || typeof l.containerID !== 'string' || !Array.isArray(l.addresses)) throw new Error(`bad shape ${JSON.stringify(l)}`);
      const key = `${l.containerID}@${l.ifname}`;
      if (records.has(key)) problems.push(`two records for ${key}`);
      records.set(key, l);
    } catch (e) {
      problems.push(`record ${name} does not parse: ${(e as Error).message}`);
    }
  }
  const claims = new Map<string, { containerID: string; ifname: string }>();
  for (const name of existsSync(netDir) ? readdirSync(netDir) : []) {
    if (!isAddressName(name)) continue;
    const text = readFileSync(join(netDir, name), 'utf8');
    const [containerID = '', ifname = ''] = text.split('\r\n');
    if (!containerID) problems.push(`claim ${name} has no holder: ${JSON.stringify(text)}`);
    claims.set(name, { containerID, ifname });
  }
  const leased = new Map<string, string>();
  const listedBy = new Map<string, string[]>();
  for (const [key, l] of records) {
    for (const a of l.addresses) {
      listedBy.set(a, [...(listedBy.get(a) ?? []), key]);
      const h = claims.get(a);
      if (h && `${h.containerID}@${h.ifname}` === key) {
        if (leased.has(a)) problems.push(`address ${a} leased twice: ${leased.get(a)} and ${key}`);
        leased.set(a, key);
      }
    }
  }
  // One claim file per name means one holder; also no two records may both believe they own an address.
  for (const [a, keys] of listedBy) {
    const owning = keys.filter((k) => {
      const h = claims.get(a);
      return h && `${h.containerID}@${h.ifname}` === k;
    });
    if (owning.length > 1) problems.push(`address ${a} owned by ${owning.join(', ')}`);
  }
  const holds = new Map<string, string[]>();
  const holdsDir = join(netDir, 'holds');
  for (const name of existsSync(holdsDir) ? readdirSync(holdsDir) : []) {
    if (name.startsWith('.') || !name.endsWith('.json')) continue;
    try {
      const h = JSON.parse(readFileSync(join(holdsDir, name), 'utf8'));
      if (h.format !== 1 || typeof h.name !== 'string' || !Array.isArray(h.addresses) || typeof h.until !== 'string')
        throw new Error(`bad shape ${JSON.stringify(h)}`);
      holds.set(`${h.namespace}/${h.name}@${h.ifname}`, h.addresses);
    } catch (e) {
      problems.push(`hold ${name} does not parse: ${(e as Error).message}`);
    }
  }
  const cooling = new Map<string, string>();
  const coolingDir = join(netDir, 'cooling');
  for (const name of existsSync(coolingDir) ? readdirSync(coolingDir) : []) {
    if (!isAddressName(name)) continue;
    const path = join(coolingDir, name);
    if (!lstatSync(path).isSymbolicLink()) problems.push(`cooling/${name} is not a symbolic link`);
    else if (!/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(readlinkSync(path))) problems.push(`cooling/${name} -> ${readlinkSync(path)}`);
    else cooling.set(name, readlinkSync(path));
  }
  return { state, records, claims, leased, holds, cooling, problems };
}

/** Holds <lockPath> with util-linux flock in its own process group (flock + sleep), until kill(). */
export async function holdLock(lockPath: string): Promise<{ pid: number; kill(): void; exited: Promise<void> }> {
  const child = spawn('/usr/bin/flock', ['-x', '-o', lockPath, 'sleep', '600'], { detached: true, stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!lockIsHeld(lockPath)) {
    if (Date.now() > deadline) throw new Error(`flock never took ${lockPath}`);
    await sleep(5);
  }
  return {
    pid: child.pid!,
    exited,
    kill() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
  };
}

/** True if someone holds an flock on the file right now (a non-blocking probe that takes and drops it). */
export function lockIsHeld(lockPath: string): boolean {
  if (!existsSync(lockPath)) return false;
  return spawnSync('/usr/bin/flock', ['-n', '-x', lockPath, 'true']).status !== 0;
}

export function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

/** Mounts a private tmpfs at dir (created if needed). */
export function mountTmpfs(dir: string, options: string): void {
  mkdirSync(dir, { recursive: true });
  run('mount', ['-t', 'tmpfs', '-o', options, 'leasehold-fault', dir]);
}

export function umountQuiet(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

/**
 * What a storage-fault test changes outside leasehold, undone in reverse: tmpfs and bind mounts, files made
 * immutable with chattr +i. undo() after each case (or at the end); remove() also deletes the temp root.
 */
export class FaultSandbox {
  readonly root: { dir: string; remove(): void };
  private readonly mounts: string[] = [];
  private readonly immutable: string[] = [];

  constructor(prefix: string) {
    this.root = tempDataDir(prefix);
  }

  tmpfs(dir: string, options: string): string {
    mountTmpfs(dir, options);
    this.mounts.push(dir);
    return dir;
  }

  /** dir mounted read-only onto itself. */
  readOnly(dir: string): void {
    run('mount', ['--bind', dir, dir]);
    this.mounts.push(dir);
    run('mount', ['-o', 'remount,bind,ro', dir]);
  }

  makeImmutable(path: string): void {
    run('chattr', ['+i', path]);
    this.immutable.push(path);
  }

  undoImmutable(): void {
    for (const p of this.immutable.splice(0)) spawnSync('chattr', ['-i', p]);
  }

  undo(): void {
    this.undoImmutable();
    for (const m of this.mounts.splice(0).reverse()) umountQuiet(m);
  }

  remove(): void {
    this.undo();
    this.root.remove();
  }
}

/** Fills a file system with 4 KiB files, then frees `pages` of them: exactly that many pages stay free. */
export function fillFs(mnt: string, pages = 0): string {
  const dir = join(mnt, 'filler');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(dir, `f${i}`), Buffer.alloc(4096, 1));
    } catch {
      rmSync(join(dir, `f${i}`), { force: true });
      break;
    }
  }
  const files = readdirSync(dir);
  for (let k = 0; k < pages; k++) rmSync(join(dir, files[k]!));
  return dir;
}

/** The finished reply of one plugin call. */
export const callCni = (command: string, containerID: string, conf: object): Promise<CniReply> => startCni({ command, containerID, stdin: conf }).done;

/** A network config for the fault suites (a /16 by default so ranges never run out). */
export function faultConf(dataDir: string, name = 'faultnet', ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'bridge',
    ipam: { type: 'leasehold', dataDir, ranges: [[{ subnet: '10.20.0.0/16' }]], lockTimeoutMs: 60_000, ...ipam },
  };
}

/** Address without prefix from an ADD result. */
export const addressOf = (r: CniReply): string => String(r.json?.ips?.[0]?.address ?? '').split('/')[0]!;

// ---- the operator CLI

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' });

const parse = (code: number | null, stdout: string, stderr: string): CliRun => parseReply(code, null, stdout, stderr);

/**
 * The CLI in this process, as an operator's shell runs it: its own streams, `input` as standard input. Calls
 * that race plugin processes for the lock use cliAsync (a lock is taken once per process).
 */
export async function cliIn(args: string[], input = ''): Promise<CliRun> {
  const { runCli } = await import('../../src/cli/index');
  let stdout = '';
  let stderr = '';
  // The stores write their own warnings to the process's stderr.
  const [code, stores] = await capturingStderr(() => runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin: () => input }));
  return parse(code, stdout, stderr + stores);
}

/** The CLI for suites that test what it answers: in-process by default; the executable when LEASEHOLD_BIN names one. */
export const cliCall = (args: string[]): Promise<CliRun> => (IN_PROCESS ? cliIn(args) : cliAsync(args));

/** The CLI as the executable: for what only the executable shows (its start-up, the code cache). */
export function cli(args: string[], input?: string, bin = BIN): CliRun {
  const r = spawnSync(bin, args, { env: env(), input, encoding: 'utf8', timeout: 60_000 });
  return parse(r.status, r.stdout, r.stderr);
}

export function cliAsync(args: string[]): Promise<CliRun> {
  return new Promise((res, rej) => {
    const p = spawn(BIN, args, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', rej);
    p.on('close', (code) => res(parse(code, out, err)));
  });
}

/** A failure is one line on stderr, never a stack trace. */
export function expectOneLine(r: CliRun): string {
  const lines = r.stderr.trimEnd().split('\n');
  if (lines.length !== 1 || /\n\s+at /.test(r.stderr) || !lines[0]!.startsWith('leasehold: ')) {
    throw new Error(`expected one "leasehold: ..." line on stderr, got:\n${r.stderr}`);
  }
  return lines[0]!;
}

/** A netns stand-in: a plain file whose existence is all the CLI looks at. */
export function makeNetns(root: string, name: string): string {
  mkdirSync(join(root, 'netns'), { recursive: true });
  const path = join(root, 'netns', name);
  writeFileSync(path, '');
  return path;
}

export const IPAM = (dataDir: string, extra: Record<string, unknown> = {}) => netConf(dataDir, extra).ipam as Record<string, unknown>;

/** Real plugin ADD of one container (eth0 unless given), with a netns stand-in under root. */
export function add(dataDir: string, id: string, o: { name?: string; ifname?: string; ipam?: Record<string, unknown>; pod?: [string, string] } = {}): string {
  const netns = makeNetns(dataDir, `${id}-${o.ifname ?? 'eth0'}`);
  const args = o.pod ? `IgnoreUnknown=1;K8S_POD_NAMESPACE=${o.pod[0]};K8S_POD_NAME=${o.pod[1]}` : '';
  const r = runCni({
    command: 'ADD',
    containerID: id,
    ifname: o.ifname ?? 'eth0',
    netns,
    args,
    stdin: netConf(dataDir, o.ipam ?? {}, { name: o.name ?? 'testnet' }),
  });
  if (r.code !== 0) throw new Error(`ADD ${id} failed: ${r.stdout}${r.stderr}`);
  return (r.json.ips as Array<{ address: string }>)[0]!.address.split('/')[0]!;
}

/** Edits a lease record in place. */
export function editLease(dataDir: string, network: string, id: string, change: (l: any) => void, ifname = 'eth0'): void {
  const path = join(dataDir, network, 'leases', `${id}@${ifname}.json`);
  const lease = JSON.parse(readFileSync(path, 'utf8'));
  change(lease);
  writeFileSync(path, `${JSON.stringify(lease)}\n`);
}

export const STALE_BOOT = '00000000-0000-4000-8000-000000000000';

/** Writes a conflist using leasehold, as a runtime would find it in /etc/cni/net.d. */
export function writeConflist(dir: string, file: string, name: string, ipam: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(
    path,
    JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge', bridge: 'cni0', ipam: { type: 'leasehold', ...ipam } }, { type: 'portmap' }] }),
  );
  return path;
}

/** No address in two records; every recorded address claimed for its record; every claim owned by a record. */
export function expectConsistent(dataDir: string, network: string): { leases: Lease[] } {
  const st = readNetwork(join(dataDir, network));
  if (st.problems.length > 0) throw new Error(st.problems.join('; '));
  const leases = [...st.records.values()];
  for (const l of leases)
    for (const a of l.addresses)
      if (st.leased.get(a) !== `${l.containerID}@${l.ifname}`) throw new Error(`${a} of ${l.containerID} is claimed by ${st.claims.get(a)?.containerID}`);
  for (const [a, h] of st.claims) if (!st.leased.has(a)) throw new Error(`claim ${a} (${h.containerID}) has no record`);
  return { leases };
}
