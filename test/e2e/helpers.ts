// Shared helpers for the end-to-end tests (network namespaces, CNI plugin
// invocation, temp dirs, lease inspection).
//
// The IPAM plugin under test is `leasehold` from <repo>/dist. For developing
// the harness before dist/ exists, E2E_IPAM_TYPE=host-local runs the very same
// tests against the reference plugin from /usr/lib/cni.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, accessSync, constants as fsConstants } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST_DIR = join(REPO, 'dist');
export const SYSTEM_CNI_DIR = '/usr/lib/cni';
export const CNI_PATH = `${DIST_DIR}:${SYSTEM_CNI_DIR}`;
export const CONF_DIR = join(REPO, 'conf.d');

/** IPAM type the tests configure; `leasehold` unless overridden for harness development. */
export const IPAM_TYPE = process.env.E2E_IPAM_TYPE ?? 'leasehold';

export { isRoot } from '../helpers/host.js';
export const NOT_ROOT_REASON = 'e2e tests need root (network namespaces, bridges, veths): skipped because process.getuid() !== 0';

/**
 * Throws (so the suite fails, not skips) when the IPAM plugin under test cannot be executed.
 */
export function assertIpamPluginPresent(): string {
  const candidates = IPAM_TYPE === 'leasehold' ? [join(DIST_DIR, 'leasehold')] : [join(DIST_DIR, IPAM_TYPE), join(SYSTEM_CNI_DIR, IPAM_TYPE)];
  for (const c of candidates) {
    try {
      accessSync(c, fsConstants.X_OK);
      return c;
    } catch {
      /* try next */
    }
  }
  throw new Error(
    `IPAM plugin "${IPAM_TYPE}" not found or not executable (looked for ${candidates.join(', ')}). ` +
      (IPAM_TYPE === 'leasehold' ? 'Run `npm run build` to produce dist/leasehold before the e2e tests.' : ''),
  );
}

export function randSuffix(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

// ---------------------------------------------------------------------------
// Process execution

export interface RunResult {
  cmd: string;
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

export function run(cmd: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`failed to spawn ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ cmd, args, code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {
      /* child may exit before reading stdin */
    });
    child.stdin.end(opts.input ?? '');
  });
}

export function describeRun(r: RunResult, extra = ''): string {
  return [
    `command: ${r.cmd} ${r.args.map((a) => JSON.stringify(a)).join(' ')}`,
    extra,
    `exit: ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}`,
    `stdout: ${r.stdout.trim() || '<empty>'}`,
    `stderr: ${r.stderr.trim() || '<empty>'}`,
  ]
    .filter(Boolean)
    .join('\n');
}

/** Runs a command and throws a descriptive error when it exits non-zero. */
export async function runOk(cmd: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`command failed\n${describeRun(r)}`);
  return r;
}

/**
 * Two containers ping each other's address, one way then the other; `ping` runs one ping from a container.
 * Throws, describing the run, when one fails.
 */
export async function pingEachOther(
  containers: readonly [string, string],
  ips: readonly string[],
  ping: (from: string, to: string) => Promise<RunResult>,
): Promise<void> {
  for (const [from, to] of [
    [containers[0], ips[1]!],
    [containers[1], ips[0]!],
  ] as const) {
    const r = await ping(from, to);
    if (r.code !== 0) throw new Error(`${from} could not ping ${to}\n${describeRun(r)}`);
  }
}

// ---------------------------------------------------------------------------
// Network namespaces and links

export async function createNetns(prefix = 'lhe2e'): Promise<string> {
  const name = `${prefix}-${randSuffix(4)}`;
  await runOk('ip', ['netns', 'add', name]);
  return name;
}

export function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}

export async function deleteNetns(name: string): Promise<void> {
  if (existsSync(netnsPath(name))) await run('ip', ['netns', 'del', name]);
}

export async function inNetns(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export async function linkExists(name: string, ns?: string): Promise<boolean> {
  const r = ns ? await inNetns(ns, 'ip', ['link', 'show', 'dev', name]) : await run('ip', ['link', 'show', 'dev', name]);
  return r.code === 0;
}

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await run('ip', ['link', 'del', name]);
}

/** Unique interface name (<= 15 chars). */
export function uniqueIfName(prefix: string): string {
  const name = `${prefix}${randSuffix(3)}`;
  if (name.length > 15) throw new Error(`interface name too long: ${name}`);
  return name;
}

export interface IfAddr {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
}

export async function ifAddrs(ns: string, ifname: string): Promise<IfAddr[]> {
  const r = await inNetns(ns, 'ip', ['-j', 'addr', 'show', 'dev', ifname]);
  if (r.code !== 0) throw new Error(`cannot list addresses\n${describeRun(r)}`);
  const parsed = JSON.parse(r.stdout) as Array<{ addr_info?: IfAddr[] }>;
  return (parsed[0]?.addr_info ?? []).map((a) => ({ family: a.family, local: a.local, prefixlen: a.prefixlen, scope: a.scope }));
}

export interface RouteEntry {
  dst: string;
  gateway?: string;
  dev?: string;
}

export async function routes(ns: string, family: 4 | 6): Promise<RouteEntry[]> {
  const r = await inNetns(ns, 'ip', ['-j', `-${family}`, 'route', 'show']);
  if (r.code !== 0) throw new Error(`cannot list routes\n${describeRun(r)}`);
  return JSON.parse(r.stdout || '[]') as RouteEntry[];
}

// ---------------------------------------------------------------------------
// Temp dirs

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// CNI configs and invocation

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string; ipam?: Record<string, unknown> }>;
}

export function loadConfList(file: string): ConfList {
  return JSON.parse(readFileSync(join(CONF_DIR, file), 'utf8')) as ConfList;
}

export interface PluginConfOverrides {
  /** top-level fields of the plugin config (e.g. bridge name) */
  plugin?: Record<string, unknown>;
  /** fields of the nested ipam config (dataDir, ranges...) */
  ipam?: Record<string, unknown>;
}

/**
 * Builds the network config a runtime hands to a single plugin of a conflist:
 * the plugin's own object plus `name` and `cniVersion` from the list, with the
 * IPAM type set to the plugin under test.
 */
export function pluginConfFromList(file: string, overrides: PluginConfOverrides = {}, index = 0): Record<string, unknown> {
  const list = loadConfList(file);
  const plugin = structuredClone(list.plugins[index]);
  if (!plugin) throw new Error(`${file} has no plugin #${index}`);
  const ipam = { ...(plugin.ipam ?? {}), type: IPAM_TYPE, ...(overrides.ipam ?? {}) };
  return { cniVersion: list.cniVersion, name: list.name, ...plugin, ...(overrides.plugin ?? {}), ipam };
}

export interface CniInvocation {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';
  containerID: string;
  netns?: string; // namespace name (not path)
  ifname?: string;
  config: Record<string, unknown>;
  args?: string;
}

export interface CniResult extends RunResult {
  env: Record<string, string>;
  stdin: string;
  json: any;
}

export async function cni(plugin: string, inv: CniInvocation): Promise<CniResult> {
  const env: Record<string, string> = {
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerID,
    CNI_IFNAME: inv.ifname ?? 'eth0',
    CNI_PATH,
  };
  if (inv.netns) env.CNI_NETNS = netnsPath(inv.netns);
  if (inv.args) env.CNI_ARGS = inv.args;
  const stdin = JSON.stringify(inv.config);
  const pluginPath = plugin.includes('/') ? plugin : join(SYSTEM_CNI_DIR, plugin);
  const r = await run(pluginPath, [], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, input: stdin, timeoutMs: 30_000 });
  let json: any;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    /* leave undefined; describeCni shows raw stdout */
  }
  return { ...r, env, stdin, json };
}

export function describeCni(r: CniResult): string {
  const envStr = Object.entries(r.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return describeRun(r, `env: ${envStr}\nstdin: ${r.stdin}`);
}

/** ADD/CHECK/DEL that must succeed; throws with the full invocation otherwise. */
export async function cniOk(plugin: string, inv: CniInvocation): Promise<CniResult> {
  const r = await cni(plugin, inv);
  if (r.code !== 0) throw new Error(`CNI ${inv.command} via ${plugin} failed\n${describeCni(r)}`);
  if (inv.command === 'ADD' && (!r.json || !Array.isArray(r.json.ips))) {
    throw new Error(`CNI ADD via ${plugin} returned no ips\n${describeCni(r)}`);
  }
  return r;
}

export interface ResultIp {
  address: string; // CIDR
  gateway?: string;
  interface?: number;
}

export function splitCidr(cidr: string): { ip: string; prefix: number } {
  const [ip, p] = cidr.split('/');
  return { ip: ip!, prefix: Number(p) };
}

export function resultIps(result: any, family?: 4 | 6): ResultIp[] {
  const ips = (result?.ips ?? []) as ResultIp[];
  return family ? ips.filter((i) => isIP(splitCidr(i.address).ip) === family) : ips;
}

// ---------------------------------------------------------------------------
// Lease inspection (generic: the on-disk format of the IPAM plugin is not assumed)

export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      continue; // vanished meanwhile
    }
    if (st.isDirectory()) out.push(...listFiles(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

function readText(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Files under <dataDir>/<network>/ whose content or name mentions the container id. */
export function filesMentioning(dataDir: string, network: string, containerID: string): string[] {
  return listFiles(join(dataDir, network)).filter((p) => p.includes(containerID) || readText(p).includes(containerID));
}

/** A dump of <dataDir>/<network>/ for failure messages. */
export function dumpLeaseDir(dataDir: string, network: string): string {
  const files = listFiles(join(dataDir, network));
  if (files.length === 0) return `${join(dataDir, network)}: <no files>`;
  return files.map((p) => `--- ${p}\n${readText(p).slice(0, 2000)}`).join('\n');
}

const IP_TOKEN = /(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]+/g;

function ipsIn(text: string): string[] {
  return (text.match(IP_TOKEN) ?? []).map((t) => t.split('/')[0]!).filter((t) => isIP(t) !== 0);
}

function mentions(node: unknown, containerID: string): boolean {
  return typeof node === 'string' ? node.includes(containerID) : (JSON.stringify(node)?.includes(containerID) ?? false);
}

function jsonIpsNear(node: unknown, containerID: string): string[] | undefined {
  // The smallest JSON object/array mentioning the container id holds its lease:
  // return the IP addresses inside it, or the IP-shaped key it is stored under
  // ({ "10.0.0.2": { "id": ... } }).
  if (node === null || typeof node !== 'object' || !mentions(node, containerID)) return undefined;
  const entries: Array<[string, unknown]> = Array.isArray(node) ? node.map((v, i) => [String(i), v]) : Object.entries(node as object);
  for (const [key, child] of entries) {
    const inner = jsonIpsNear(child, containerID);
    if (inner && inner.length > 0) return inner;
    const k = key.split('/')[0]!;
    if (!Array.isArray(node) && isIP(k) !== 0 && mentions(child, containerID)) return [k];
  }
  return ipsIn(JSON.stringify(node));
}

/** Canonical text form of an IP address (IPv6 compressed, lower case). */
export function canonicalIp(ip: string): string {
  const bare = ip.split('/')[0]!;
  if (isIP(bare) !== 6) return bare;
  return new URL(`http://[${bare}]/`).hostname.replace(/^\[|\]$/g, '');
}

/**
 * IP addresses the IPAM plugin recorded for a container, inferred without
 * assuming the store format: a file named after an IP whose content mentions
 * the id (host-local style), the smallest JSON object mentioning the id, or
 * the lines mentioning the id.
 */
export function leasedIps(dataDir: string, network: string, containerID: string): string[] {
  const found = new Set<string>();
  for (const p of filesMentioning(dataDir, network, containerID)) {
    const name = basename(p);
    if (isIP(name) !== 0) {
      found.add(canonicalIp(name));
      continue;
    }
    // host-local style with IPv6 files named e.g. "fd00:10:245:1::2" handled above; encoded names:
    const decoded = name.replace(/_/g, ':');
    if (isIP(decoded) !== 0) {
      found.add(canonicalIp(decoded));
      continue;
    }
    const text = readText(p);
    let ips: string[] | undefined;
    try {
      ips = jsonIpsNear(JSON.parse(text), containerID);
    } catch {
      ips = undefined;
    }
    if (!ips) {
      // maybe JSON lines, or plain text
      ips = [];
      for (const line of text.split('\n')) {
        if (!line.includes(containerID)) continue;
        try {
          ips.push(...(jsonIpsNear(JSON.parse(line), containerID) ?? []));
        } catch {
          ips.push(...ipsIn(line));
        }
      }
    }
    if (ips.length === 0) ips = ipsIn(name.replace(/\.(json|lease|lock|tmp)$/, '')); // lease file named after its IP
    for (const ip of ips) found.add(canonicalIp(ip));
  }
  return [...found];
}

// ---------------------------------------------------------------------------
// Polling

export async function pollUntil<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, intervalMs));
    v = await fn();
  }
  return v;
}

// ---------------------------------------------------------------------------
// Cleanup helper: run every step even if some throw.

export async function cleanupAll(steps: Array<() => unknown | Promise<unknown>>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) console.warn('e2e cleanup errors:', ...errors);
}
