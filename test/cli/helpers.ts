// Running the built CLI (BIN without CNI_COMMAND) and preparing data dirs with real plugin runs or by hand.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, netConf, runCni } from '../helpers/plugin';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' });

function parse(code: number | null, stdout: string, stderr: string): CliRun {
  let json: any;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

export function cli(args: string[], input?: string): CliRun {
  const r = spawnSync(BIN, args, { env: env(), input, encoding: 'utf8', timeout: 60_000 });
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
  const r = runCni({ command: 'ADD', containerId: id, ifname: o.ifname ?? 'eth0', netns, args, stdin: netConf(dataDir, o.ipam ?? {}, { name: o.name ?? 'testnet' }) });
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
  writeFileSync(path, JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge', bridge: 'cni0', ipam: { type: 'leasehold', ...ipam } }, { type: 'portmap' }] }));
  return path;
}

/** Every record and claim of a network, for invariant checks. */
export function onDisk(dataDir: string, network: string): { leases: any[]; claims: Map<string, string> } {
  const dir = join(dataDir, network);
  const leases = readdirSync(join(dir, 'leases'))
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .map((n) => JSON.parse(readFileSync(join(dir, 'leases', n), 'utf8')));
  const claims = new Map<string, string>();
  for (const n of readdirSync(dir)) {
    if (/^[0-9a-f.:]+$/.test(n) && /[.:]/.test(n)) claims.set(n, readFileSync(join(dir, n), 'utf8').split(/\r?\n/)[0]!);
  }
  return { leases, claims };
}

/** No address in two records; every recorded address claimed for its record; every claim owned by a record. */
export function expectConsistent(dataDir: string, network: string): { leases: any[] } {
  const { leases, claims } = onDisk(dataDir, network);
  const seen = new Map<string, string>();
  for (const l of leases) {
    for (const a of l.addresses) {
      if (seen.has(a)) throw new Error(`${a} is in two records: ${seen.get(a)} and ${l.containerID}`);
      seen.set(a, l.containerID);
      if (claims.get(a) !== l.containerID) throw new Error(`${a} of ${l.containerID} is claimed by ${claims.get(a)}`);
    }
  }
  for (const [a, holder] of claims) if (seen.get(a) !== holder) throw new Error(`claim ${a} (${holder}) has no record`);
  return { leases };
}

export { BIN };
