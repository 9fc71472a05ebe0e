// Runs the built plugin as a runtime would: CNI_* environment, network config on stdin, one JSON on stdout.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
/** Tests run against the shipped executable; LEASEHOLD_BIN points them at another build. */
export const BIN = process.env.LEASEHOLD_BIN ?? join(ROOT, 'dist', 'leasehold');

if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);

export interface CniCall {
  command: string;
  containerId?: string;
  ifname?: string;
  netns?: string;
  args?: string;
  stdin?: string | Buffer | object;
  env?: Record<string, string | undefined>;
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
    CNI_CONTAINERID: c.containerId ?? '',
    CNI_NETNS: c.netns ?? (c.containerId ? `/var/run/netns/${c.containerId}` : ''),
    CNI_IFNAME: c.ifname ?? (c.containerId ? 'eth0' : ''),
    CNI_ARGS: c.args ?? '',
    CNI_PATH: join(ROOT, 'dist'),
    ...c.env,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

const stdinOf = (c: CniCall): string | Buffer => (c.stdin === undefined ? '' : typeof c.stdin === 'string' || Buffer.isBuffer(c.stdin) ? c.stdin : JSON.stringify(c.stdin));

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
  const r = spawnSync(BIN, [], { env: cniEnv(c), input: stdinOf(c), encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  return parseReply(r.status, r.signal, r.stdout, r.stderr);
}

export function runCniAsync(c: CniCall): Promise<CniReply> {
  return new Promise((res, rej) => {
    const p = spawn(BIN, [], { env: cniEnv(c), stdio: ['pipe', 'pipe', 'pipe'] });
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
