// What the benchmark scripts share: a bare environment, timing one process, quantiles, and a burst.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadavg } from 'node:os';

/** Only what a runtime passes: no NODE_OPTIONS, NODE_EXTRA_CA_CERTS or other start-up costs of this shell. */
export const BARE_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

export const cniEnv = (command, id) => ({
  ...BARE_ENV,
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: `/var/run/netns/${id}`,
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/usr/lib/cni',
});

export const leaseholdConf = (dataDir, subnet, ipam = {}) => ({
  cniVersion: '1.0.0',
  name: 'bench',
  type: 'bridge',
  ipam: { type: 'leasehold', dataDir, ranges: [[{ subnet }]], lockTimeoutMs: 120000, ...ipam },
});

/** Runs one program to completion; its wall time in ms and its stdout. Throws when it fails. */
export function timeOnce(cmd, args, env, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, input, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${env.CNI_COMMAND ?? ''} failed (${r.status ?? r.signal}): ${r.stdout} ${r.stderr}`);
  return { ms, out: r.stdout };
}

export const quantile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};
export const median = (xs) => quantile(xs, 0.5);
/**
 * The machine's CPU time so far, in clock ticks, and the part of it the hypervisor gave to other guests
 * (steal): a VM's load average does not show the host taking its CPUs away, and every ratio then drifts.
 */
export function cpuTicks() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/);
  const n = fields.map(Number);
  return { total: n.reduce((a, b) => a + b, 0), steal: n[7] ?? 0 };
}

/** The share of the CPU time between two cpuTicks() readings that was stolen. */
export const stealShare = (a, b) => (b.total > a.total ? (b.steal - a.steal) / (b.total - a.total) : 0);

export const loadText = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/**
 * n concurrent ADDs of distinct containers with one network config, which must name an ipam.logFile: the
 * lock waits are read from it. Resolves to the wall time, each process's reply and time, and the waits.
 *
 * Each child reads the config from a file of its own, at end of file at once, as a runtime's child reads a
 * pipe its parent writes and closes right away (containerd copies stdin from a goroutine). Written into a
 * pipe from this loop, the ends of file would all wait until the last child was spawned: every process
 * would then reach the lock in the same instant, a convoy no runtime makes.
 */
export async function burst(bin, conf, n) {
  const stdinFile = join(dirname(conf.ipam.logFile), 'burst-stdin.json');
  mkdirSync(dirname(stdinFile), { recursive: true });
  writeFileSync(stdinFile, JSON.stringify(conf));
  const t0 = process.hrtime.bigint();
  const replies = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise((res) => {
          const s = process.hrtime.bigint();
          const stdin = openSync(stdinFile, 'r');
          const child = spawn(bin, [], { env: cniEnv('ADD', `burst${i}`), stdio: [stdin, 'pipe', 'ignore'] });
          closeSync(stdin);
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('close', (code) => res({ code, out, ms: Number(process.hrtime.bigint() - s) / 1e6 }));
        }),
    ),
  );
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const ok = replies.filter((r) => r.code === 0);
  const waits = readFileSync(conf.ipam.logFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).lockWaitMs ?? 0);
  return { wallMs, replies, errors: n - ok.length, distinct: new Set(ok.map((r) => JSON.parse(r.out).ips[0].address)).size, waits };
}
