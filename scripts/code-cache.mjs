// Makes the plugin bundle's V8 code caches, embedded beside it in the single executable (src/sea-main.ts).
// V8 writes into a cache only what has been compiled, and it compiles a function on its first call: so a
// cache is made by running the bundle through the calls a node makes (VERSION, ADD new and repeated, CHECK,
// GC, STATUS, DEL, both address families, an old cniVersion, a config error), one process each, every step
// starting from the cache of the one before, on the embedded Node with the executable's V8 flags (a cache
// made under other flags is refused). That makes the disk cache; the cluster cache goes on from it with
// cluster mode's ADD and DEL against a one-member etcd on loopback, when Debian's etcd-server is installed
// (without it, the two are the same and cluster code compiles on first use).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST, command, nodeBinary } from './arch.mjs';
import { EXEC_ARGV } from './sea.mjs';

async function freePort() {
  const server = createServer();
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address();
  await new Promise((res) => server.close(res));
  return port;
}

/** A one-member etcd on loopback, ports picked now, stopped by PID; undefined when etcd is not installed. */
async function startEtcd(work) {
  if (spawnSync('etcd', ['--version']).status !== 0) return undefined;
  const [client, peer] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  const proc = spawn(
    'etcd',
    ['--name', 'train', '--data-dir', join(work, 'etcd'), '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer],
    { stdio: 'ignore', env: { PATH: process.env.PATH, ETCD_INITIAL_ADVERTISE_PEER_URLS: peer, ETCD_INITIAL_CLUSTER: `train=${peer}` } },
  );
  const stop = () => proc.kill('SIGKILL');
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`${client}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { endpoint: client, stop };
    await new Promise((res) => setTimeout(res, 100));
  }
  stop();
  throw new Error('code cache: the training etcd did not become healthy within 20 s');
}

/**
 * trainer: the bundled scripts/train-code-cache.ts; bundle: the plugin bundle, its assets beside it; disk and
 * cluster: where the two caches go; arch: the executable's, whose Node makes them (V8's code cache is per
 * architecture), under its emulator when it is not this machine's.
 */
export async function makeCodeCache({ trainer, bundle, disk, cluster, arch = HOST }) {
  const node = nodeBinary(arch);
  const work = mkdtempSync(join(tmpdir(), 'leasehold-code-cache-'));
  const etcd = await startEtcd(work);
  if (!etcd) console.log('code cache: etcd is not installed, so cluster calls are not trained (they compile on first use)');
  try {
    const conf = (cniVersion, ipam = {}) => ({
      cniVersion,
      name: 'train',
      type: 'bridge',
      ipam: { type: 'leasehold', dataDir: join(work, 'data'), ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd99::/120' }]], ...ipam },
    });
    let added = '';
    const steps = [
      { verb: 'VERSION', stdin: () => conf('1.1.0') },
      { verb: 'ADD', id: 'a', stdin: () => conf('1.1.0') },
      { verb: 'ADD', id: 'a', stdin: () => conf('1.1.0') },
      { verb: 'CHECK', id: 'a', stdin: () => ({ ...conf('1.1.0'), prevResult: JSON.parse(added) }) },
      { verb: 'ADD', id: 'b', stdin: () => conf('0.3.1') },
      { verb: 'GC', stdin: () => ({ ...conf('1.1.0'), 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }) },
      { verb: 'STATUS', stdin: () => conf('1.1.0') },
      { verb: 'DEL', id: 'a', stdin: () => conf('1.1.0') },
      { verb: 'ADD', id: 'c', stdin: () => conf('1.1.0', { ranges: [[{ subnet: '10.99.0.0/33' }]] }), fails: true },
    ];
    const clusterSteps = [];
    if (etcd) {
      const clusterConf = () =>
        conf('1.1.0', { dataDir: join(work, 'node'), cluster: { etcd: { endpoints: [etcd.endpoint] }, pool: 'train', nodeName: 'train' } });
      clusterSteps.push({ verb: 'ADD', id: 'a', stdin: clusterConf }, { verb: 'DEL', id: 'a', stdin: clusterConf });
    }
    let cache = '';
    let i = 0;
    const run = (s) => {
      const next = join(work, `cache-${i++}`);
      const env = { PATH: process.env.PATH, CNI_COMMAND: s.verb, CNI_CONTAINERID: s.id ?? 'train', CNI_NETNS: '/var/run/netns/train', CNI_IFNAME: 'eth0' };
      const r = spawnSync(...command(arch, node, [...EXEC_ARGV, trainer, bundle, cache, next]), { env, input: JSON.stringify(s.stdin()), encoding: 'utf8' });
      if (r.status !== (s.fails ? 1 : 0)) throw new Error(`code cache: ${s.verb} exited ${r.status ?? r.signal}: ${r.stdout}${r.stderr}${r.error ?? ''}`);
      if (s.verb === 'ADD' && s.id === 'a') added = r.stdout;
      cache = next;
    };
    steps.forEach(run);
    copyFileSync(cache, disk);
    clusterSteps.forEach(run);
    copyFileSync(cache, cluster);
    // Each cache is checked as a step's input (the trainer exits 3 if V8 refuses it): a refused cache only
    // slows every call down, which no test would see.
    for (const c of [disk, cluster]) {
      cache = c;
      run(steps[0]);
    }
  } finally {
    etcd?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
