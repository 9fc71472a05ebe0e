// ipam.logFile: one JSON line per operation, never on stdout, rotated to <logFile>.1 at logMaxBytes. In-process
// through runPlugin with the real disk store: the log is written by the dispatcher, not by the executable's shell.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { runPlugin } from '../../src/plugin/dispatch';
import { lockIsHeld, netConf, sleep, tempDataDir } from '../helpers/leasehold';

let data: ReturnType<typeof tempDataDir>;
beforeEach(() => {
  data = tempDataDir();
});
afterEach(() => data.remove());

const lines = (f: string) =>
  readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

async function call(command: string, containerID: string, conf: object, args = '') {
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: containerID, CNI_NETNS: `/run/netns/${containerID}`, CNI_IFNAME: 'eth0', CNI_ARGS: args };
  const r = await runPlugin(env, () => JSON.stringify(conf));
  return { ...r, json: r.stdout ? JSON.parse(r.stdout) : undefined };
}

it('logs each operation with its facts, including failures and the time spent waiting for the lock, and keeps stdout to the CNI document', async () => {
  const logFile = join(data.dir, 'ops.log');
  const conf = netConf(data.dir, { logFile, lockTimeoutMs: 10_000 });
  const add = await call('ADD', 'c1', conf, 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web');
  expect(Object.keys(add.json)).toEqual(['cniVersion', 'ips', 'routes', 'dns']);
  await call('ADD', 'c2', conf, 'IP=10.88.0.2');
  // Another process holds the network's lock for a while (it lets go by itself: the wait may block this
  // thread): the DEL that waits for it says how long it waited.
  const held = 400;
  const lock = join(data.dir, 'testnet', 'lock');
  const holder = spawn('/usr/bin/flock', ['-x', '-o', lock, 'sleep', String(held / 1000)], { stdio: 'ignore' });
  while (!lockIsHeld(lock)) await sleep(5);
  const del = await call('DEL', 'c1', conf);
  holder.kill();
  expect(del.exitCode, del.stdout).toBe(0);
  const [a, bad, d] = lines(logFile);
  expect(a).toMatchObject({ verb: 'ADD', network: 'testnet', containerID: 'c1', ifname: 'eth0', ok: true, addresses: ['10.88.0.2'] });
  expect(a.lockWaitMs).toBeLessThan(held);
  expect(Date.now() - Date.parse(a.time)).toBeLessThan(60_000);
  expect(bad).toMatchObject({ verb: 'ADD', containerID: 'c2', ok: false, code: 101 });
  expect(d).toMatchObject({ verb: 'DEL', containerID: 'c1', ok: true, addresses: ['10.88.0.2'] });
  expect(d.lockWaitMs).toBeGreaterThanOrEqual(held / 2);
  expect(d.ms).toBeGreaterThanOrEqual(d.lockWaitMs);
  expect(statSync(logFile).mode & 0o777).toBe(0o600);
});

it('rotates to <logFile>.1 once the log reaches logMaxBytes', async () => {
  const logFile = join(data.dir, 'ops.log');
  const conf = netConf(data.dir, { logFile, logMaxBytes: 4096 });
  for (let i = 0; i < 40 && !existsSync(`${logFile}.1`); i++) await call('CHECK', `ghost-${i}-${'x'.repeat(60)}`, conf);
  expect(existsSync(`${logFile}.1`)).toBe(true);
  expect(statSync(`${logFile}.1`).size).toBeGreaterThanOrEqual(4096);
  expect(statSync(logFile).size).toBeLessThan(4096);
  for (const l of [...lines(`${logFile}.1`), ...lines(logFile)]) expect(l).toMatchObject({ verb: 'CHECK', ok: false, code: 3 });
});
