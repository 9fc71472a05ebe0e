// One CNI-sized etcd conversation from a fresh process, for scripts/etcd-cost.mjs: the claim txn cluster mode
// makes per ADD (after an optional 64-key window read), through src/etcd like the plugin; mode "add" is a
// cluster ADD's two round trips through src/store/etcd (snapshot, claim). Mode "resume" is the
// same txn over raw node:https with the TLS session ticket kept in a file between processes, to measure what
// resumption would save. Exit code 0 only when the claim succeeded. A plain script has no addon: node:net
// carries every mode.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { buildCluster } from '../../src/config/cluster';
import { EtcdClient } from '../../src/etcd/client';
import { prefixEnd } from '../../src/etcd/keys';
import type { RawCluster } from '../../src/config/schema';
import { etcdAccess } from '../../src/config/secrets';

const [mode, configJson] = process.argv.slice(2) as [string, string];
const config = JSON.parse(configJson) as RawCluster['etcd'] & { prefix: string; timeoutMs: number; sessionFile?: string };
// Parsed and read as the plugin does it.
const { prefix, timeoutMs, sessionFile: _sessionFile, ...etcd } = config;
const cluster = buildCluster({ etcd, prefix, timeoutMs, nodeName: 'bench-node' }, 'bench');
const key = `${config.prefix}${process.pid}-${process.hrtime.bigint()}`;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function viaClient(window: boolean): Promise<boolean> {
  const client = new EtcdClient(etcdAccess(cluster), { kind: 'node' });
  if (window) await client.range({ key: config.prefix, rangeEnd: prefixEnd(config.prefix), limit: 64, keysOnly: true });
  const r = await client.txn({
    compare: [{ key, target: 'CREATE', result: 'EQUAL', value: 0 }],
    success: [{ put: { key, value: 'x' } }],
    failure: [{ range: { key } }],
  });
  return r.succeeded;
}

/** What a cluster ADD sends: one snapshot read of a 64-address window, then the claim of its first free address. */
async function viaPool(): Promise<boolean> {
  // Loaded here, so the other modes pay only for the client (esbuild keeps a required module lazy).
  const { formatIp, parseIp } = require('../../src/net/ip') as typeof import('../../src/net/ip');
  const { ClusterLayout } = require('../../src/store/etcd/layout') as typeof import('../../src/store/etcd/layout');
  const { EtcdPool } = require('../../src/store/etcd/pool') as typeof import('../../src/store/etcd/pool');
  const pool = new EtcdPool(
    new EtcdClient(etcdAccess(cluster), { kind: 'node' }),
    new ClusterLayout({ prefix: cluster.prefix, pool: 'bench', network: 'bench', node: 'bench-node' }),
  );
  const att = { containerID: `c${process.pid}-${process.hrtime.bigint()}`, ifname: 'eth0' };
  const first = parseIp('10.0.0.0').value;
  const snap = await pool.snapshot(att, [{ family: 4, first, last: first + 0xffffffn }], 64);
  const taken = new Set(snap.taken[0]!.addresses.map((a) => a.value));
  let v = first;
  while (taken.has(v)) v++;
  const lease = { format: 1 as const, ...att, addresses: [formatIp({ family: 4, value: v })], netns: '', createdAt: new Date().toISOString(), bootId: null };
  return (await pool.claim({ lease, cursors: { '0': lease.addresses[0]! } })).status === 'claimed';
}

function resumed(): Promise<boolean> {
  const https = require('node:https') as typeof import('node:https');
  const u = new URL(config.endpoints[0]!);
  let session: Buffer | undefined;
  try {
    session = readFileSync(config.sessionFile!);
  } catch {
    session = undefined;
  }
  const body = JSON.stringify({
    compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
    success: [{ request_put: { key: b64(key), value: b64('x') } }],
  });
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        hostname: u.hostname,
        port: u.port,
        path: '/v3/kv/txn',
        method: 'POST',
        agent: false,
        ca: readFileSync(config.caFile!),
        cert: readFileSync(config.certFile!),
        key: readFileSync(config.keyFile!),
        ...(session && { session }),
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(JSON.parse(text).succeeded === true));
      },
    );
    req.on('socket', (s) => {
      // stdout tells the driver whether this handshake was a resumption.
      s.once('secureConnect', () => process.stdout.write((s as import('node:tls').TLSSocket).isSessionReused() ? 'resumed\n' : 'full\n'));
      s.on('session', (ticket: Buffer) => {
        writeFileSync(`${config.sessionFile}.tmp`, ticket);
        renameSync(`${config.sessionFile}.tmp`, config.sessionFile!);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const run = mode === 'load' ? Promise.resolve(true) : mode === 'resume' ? resumed() : mode === 'add' ? viaPool() : viaClient(mode === 'window');
run.then(
  (ok) => process.exit(ok ? 0 : 1),
  (e) => {
    process.stderr.write(`${e}\n`);
    process.exit(2);
  },
);
