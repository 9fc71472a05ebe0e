// What the benchmark scripts share: a bare environment, timing one process, quantiles, and a burst.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
export const loadText = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/**
 * n concurrent ADDs of distinct containers with one network config, which must name an ipam.logFile: the
 * lock waits are read from it. Resolves to the wall time, each process's reply and time, and the waits.
 */
export async function burst(bin, conf, n) {
  const input = JSON.stringify(conf);
  const t0 = process.hrtime.bigint();
  const replies = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise((res) => {
          const s = process.hrtime.bigint();
          const child = spawn(bin, [], { env: cniEnv('ADD', `burst${i}`), stdio: ['pipe', 'pipe', 'ignore'] });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('close', (code) => res({ code, out, ms: Number(process.hrtime.bigint() - s) / 1e6 }));
          child.stdin.end(input);
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
