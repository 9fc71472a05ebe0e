// ipam.logFile: one JSON line per operation, never on stdout, rotated to <logFile>.1 at logMaxBytes.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { netConf, runCni, tempDataDir } from '../helpers/leasehold';

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

it('logs each operation with its facts, including failures, and keeps stdout to the CNI document', () => {
  const logFile = join(data.dir, 'ops.log');
  const conf = netConf(data.dir, { logFile });
  const add = runCni({ command: 'ADD', containerId: 'c1', stdin: conf, args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web' });
  expect(Object.keys(add.json)).toEqual(['cniVersion', 'ips', 'routes', 'dns']);
  runCni({ command: 'ADD', containerId: 'c2', stdin: conf, args: 'IP=10.88.0.2' });
  runCni({ command: 'DEL', containerId: 'c1', stdin: conf });
  const [a, bad, d] = lines(logFile);
  expect(a).toMatchObject({ verb: 'ADD', network: 'testnet', containerID: 'c1', ifname: 'eth0', ok: true, addresses: ['10.88.0.2'] });
  expect(a.lockWaitMs).toBeGreaterThanOrEqual(0);
  expect(a.ms).toBeGreaterThan(0);
  expect(Date.now() - Date.parse(a.time)).toBeLessThan(60_000);
  expect(bad).toMatchObject({ verb: 'ADD', containerID: 'c2', ok: false, code: 101 });
  expect(d).toMatchObject({ verb: 'DEL', containerID: 'c1', ok: true, addresses: ['10.88.0.2'] });
  expect(statSync(logFile).mode & 0o777).toBe(0o600);
});

it('rotates to <logFile>.1 once the log reaches logMaxBytes', () => {
  const logFile = join(data.dir, 'ops.log');
  const conf = netConf(data.dir, { logFile, logMaxBytes: 4096 });
  for (let i = 0; i < 40 && !existsSync(`${logFile}.1`); i++) runCni({ command: 'CHECK', containerId: `ghost-${i}-${'x'.repeat(60)}`, stdin: conf });
  expect(existsSync(`${logFile}.1`)).toBe(true);
  expect(statSync(`${logFile}.1`).size).toBeGreaterThanOrEqual(4096);
  expect(statSync(logFile).size).toBeLessThan(4096);
  for (const l of [...lines(`${logFile}.1`), ...lines(logFile)]) expect(l).toMatchObject({ verb: 'CHECK', ok: false, code: 3 });
});
