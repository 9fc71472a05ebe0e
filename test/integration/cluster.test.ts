// Cluster mode end to end: several simulated nodes (own dataDir and nodeName) on one real 3-member etcd cluster on
// loopback. Uniqueness, acknowledged leases, DEL during an outage, STATUS, GC. Calls made one after another run
// in-process (the plugin through runPlugin, the CLI through its entry: cni, cliCall); calls that race each other
// are each their own process, as a runtime starts them, and so are the simulated machines (namespaces). With
// LEASEHOLD_BIN every call runs that executable.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReleaseJournal } from '../../src/store/node/journal';
import { startFakeCri } from '../helpers/fake-cri';
import { addressOf, type CniCall, type CniReply, cliCall, cni, isRoot, runCniAsync, tree } from '../helpers/leasehold';
import { checkJson } from '../cli/schemas';
import { clusterForFile } from '../helpers/etcd-cluster';
import { EtcdFaultProxy, keyOf } from '../helpers/etcd-fault-proxy';

const etcd = clusterForFile('lh-cluster-');
const { missing, why, root } = etcd;
let prefix = 0;

interface Net {
  name: string;
  pool: string;
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  prefix: string;
  /** Where the nodes reach etcd (default: the cluster's members). */
  endpoints?: string[];
}

const newNet = (o: Partial<Net> & { subnet: string }): Net => ({ name: 'lan', pool: 'lan', prefix: `/lh-test-${process.pid}-${prefix++}`, ...o });

const conf = (net: Net, node: string, extra: Record<string, unknown> = {}, timeoutMs = 3000) => ({
  cniVersion: '1.1.0',
  name: net.name,
  type: 'macvlan',
  ipam: {
    type: 'leasehold',
    dataDir: join(root.dir, node),
    // 40 processes a node queue for its lock in the bursts below; on two loaded cores the last waits long.
    lockTimeoutMs: 60_000,
    ranges: [[{ subnet: net.subnet, ...(net.rangeStart && { rangeStart: net.rangeStart }), ...(net.rangeEnd && { rangeEnd: net.rangeEnd }) }]],
    cluster: { etcd: { endpoints: net.endpoints ?? etcd.cluster.endpoints }, prefix: net.prefix, pool: net.pool, nodeName: node, timeoutMs },
  },
  ...extra,
});

const cniCall = (command: string, net: Net, node: string, id: string, extra: Record<string, unknown> = {}, timeoutMs?: number, args?: string): CniCall => ({
  command,
  containerID: id,
  netns: id ? `/var/run/netns/${id}` : '',
  ifname: id ? 'eth0' : '',
  stdin: conf(net, node, extra, timeoutMs),
  ...(args && { args }),
});

/** One call after another: in-process (the executable when LEASEHOLD_BIN is set). */
const call = (...a: Parameters<typeof cniCall>): Promise<CniReply> => cni(cniCall(...a));

/** Calls that race others on a node's lock: each its own process, as a runtime starts them. */
const spawned = (...a: Parameters<typeof cniCall>): Promise<CniReply> => runCniAsync(cniCall(...a));

/** ADDs made one after another, each [node, containerID], every one succeeding. */
async function addAll(net: Net, adds: Array<[string, string]>): Promise<void> {
  for (const [node, id] of adds) expect((await call('ADD', net, node, id)).code, `${node} ${id}`).toBe(0);
}

/** The CLI's options as that node runs it: the network's config written as a conflist, and the node's data dir. */
function cliArgs(net: Net, node: string): string[] {
  const file = join(root.dir, `${net.name}-${node}.conflist`);
  const { ipam, ...top } = conf(net, node);
  writeFileSync(file, JSON.stringify({ cniVersion: top.cniVersion, name: top.name, plugins: [{ type: 'macvlan', ipam }] }));
  return ['--config', file, '--data-dir', join(root.dir, node)];
}

const held = (net: Net): string[] =>
  etcd.cluster
    .etcdctl(['get', '--prefix', '--keys-only', `${net.prefix}/pools/${net.pool}/addresses/`])
    .split('\n')
    .filter((l) => l.trim() !== '');

/** A machine simulated with namespaces: its own host name (UTS) and its own /etc/machine-id (a bind mount). */
interface Machine {
  /** Its data dir's name under the test's root. */
  label: string;
  host: string;
  /** ipam.cluster.nodeName, when configured (else the default: the host name). */
  nodeName?: string;
  /** Its /etc/machine-id: 32 hex digits. */
  id: string;
}

const noMachines = !isRoot
  ? 'needs root for unshare and mount'
  : !existsSync('/etc/machine-id')
    ? 'no /etc/machine-id to bind-mount over'
    : spawnSync('unshare', ['-mu', 'true']).status !== 0
      ? 'unshare -mu does not work here'
      : undefined;

/** A CNI call on a simulated machine, with its nodeName or the default (its host name): what only the executable shows. */
function onMachine(m: Machine, command: string, net: Net, id: string, extra: Record<string, unknown> = {}, timeoutMs?: number): Promise<CniReply> {
  const idFile = join(root.dir, `machine-id-${m.label}`);
  writeFileSync(idFile, `${m.id}\n`);
  const c = conf(net, m.label, extra, timeoutMs);
  const { nodeName: _default, ...clusterConf } = c.ipam.cluster;
  return runCniAsync({
    command,
    containerID: id,
    netns: id ? `/var/run/netns/${id}` : '',
    ifname: id ? 'eth0' : '',
    stdin: { ...c, ipam: { ...c.ipam, cluster: { ...clusterConf, ...(m.nodeName && { nodeName: m.nodeName }) } } },
    via: ['unshare', '-mu', 'sh', '-c', 'hostname "$1" && mount --bind "$2" /etc/machine-id && exec "$3"', 'sh', m.host, idFile],
  });
}

/** Two simulated machines with these host names (their labels name their data dirs). */
const machines = (labels: [string, string], hosts: [string, string]): [Machine, Machine] => [
  { label: labels[0], host: hosts[0], id: '1'.repeat(32) },
  { label: labels[1], host: hosts[1], id: '2'.repeat(32) },
];

/** An ADD on a simulated machine that must succeed. */
async function addOn(m: Machine, net: Net, id: string): Promise<CniReply> {
  const r = await onMachine(m, 'ADD', net, id);
  expect(r.code, `${m.host} ${id}: ${r.stdout}${r.stderr}`).toBe(0);
  return r;
}

const recordOf = (net: Net, id: string): Record<string, unknown> | undefined => {
  const text = etcd.cluster.etcdctl(['get', `${net.prefix}/networks/${net.name}/leases/${id}/eth0`, '--print-value-only']).trim();
  return text ? JSON.parse(text) : undefined;
};

describe.skipIf(!!missing)(`cluster mode on a real 3-member etcd${why}`, () => {
  it('5 nodes, 200 concurrent ADDs on a range of exactly 200, then 50 DELs racing 50 new ADDs: every address once, records and indexes agree, the next ADD gets 100', async () => {
    const net = newNet({ name: 'burstnet', subnet: '10.50.0.0/24', rangeStart: '10.50.0.10', rangeEnd: '10.50.0.209' });
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const nodeOf = (i: number): string => nodes[i % nodes.length]!;
    const started = Date.now();
    // etcd's answers may wait behind 200 processes' CPU: the bound here is generous, uniqueness is what is tested.
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => spawned('ADD', net, nodeOf(i), `c${i}`, {}, 15_000)));
    const wall = Date.now() - started;
    for (const r of replies) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(new Set(replies.map(addressOf)).size).toBe(200);
    expect(held(net)).toHaveLength(200);
    expect((await call('ADD', net, 'n1', 'one-too-many')).json?.code).toBe(100);
    // DELs of the first 50 race ADDs of 50 new attachments on every node: a new ADD either finds an address a DEL
    // freed, or is told the range is full; none gets an address twice.
    const mixed = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => spawned('DEL', net, nodeOf(i), `c${i}`, {}, 15_000)),
      ...Array.from({ length: 50 }, (_, i) => spawned('ADD', net, nodeOf(i), `d${i}`, {}, 15_000)),
    ]);
    const dels = mixed.slice(0, 50);
    const adds = mixed.slice(50);
    for (const r of dels) expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const r of adds) expect([0, 100], r.stdout + r.stderr).toContain(r.code === 0 ? 0 : r.json?.code);
    const live = [...replies.slice(50), ...adds.filter((r) => r.code === 0)];
    expect(new Set(live.map(addressOf)).size).toBe(live.length);
    expect(held(net)).toHaveLength(live.length);
    // Every acknowledged lease is there, on the node that made it; records, address keys and indexes agree.
    for (const [i, r] of replies.entries()) {
      if (i < 50) continue;
      const check = await call('CHECK', net, nodeOf(i), `c${i}`, { prevResult: r.json });
      expect(check.code, check.stdout).toBe(0);
    }
    const report = checkJson.parse((await cliCall(['check', ...cliArgs(net, 'n1'), '--json'])).json);
    expect(report.findings.filter((f) => !['netns-gone'].includes(f.kind))).toEqual([]);
    expect(report.networks[0]).toMatchObject({ leases: live.length, claims: live.length });
    const refused = adds.filter((r) => r.code !== 0).length;
    console.log(
      `cluster: 200 ADDs from 5 nodes in ${wall} ms wall, 0 errors, 200 distinct; then 50 DELs raced 50 ADDs: ${50 - refused} got an address, ${refused} were told 100`,
    );
  }, 240_000);

  it('a repeated ADD returns the same address; DEL frees it for any node; a repeated DEL is fine', async () => {
    const net = newNet({ subnet: '10.51.0.0/29' });
    const a = await call('ADD', net, 'n1', 'x');
    expect(a.code, a.stdout).toBe(0);
    expect(addressOf(await call('ADD', net, 'n1', 'x'))).toBe(addressOf(a));
    for (const id of ['y', 'z', 'w', 'v']) expect((await call('ADD', net, 'n2', id)).code).toBe(0);
    expect((await call('ADD', net, 'n2', 'full')).json?.code).toBe(100);
    expect((await call('DEL', net, 'n1', 'x')).code).toBe(0);
    expect((await call('DEL', net, 'n1', 'x')).code).toBe(0);
    expect(addressOf(await call('ADD', net, 'n2', 'after'))).toBe(addressOf(a));
  }, 60_000);

  it('the disk mode rules hold in a pool: gateway and exclude never handed out, requested addresses, a shared round-robin cursor, dual-stack', async () => {
    const net = newNet({ name: 'rulesnet', subnet: '10.64.0.0/28' });
    const ipam = (node: string) => ({
      ...conf(net, node).ipam,
      ranges: [[{ subnet: net.subnet }], [{ subnet: 'fd64::/124' }]],
      exclude: ['10.64.0.3/32', '10.64.0.8/30'],
    });
    const add = (node: string, id: string, args?: string): Promise<CniReply> =>
      cni({
        command: 'ADD',
        containerID: id,
        netns: `/var/run/netns/${id}`,
        ifname: 'eth0',
        stdin: { ...conf(net, node), ipam: ipam(node) },
        ...(args && { args }),
      });
    const del = (node: string, id: string): Promise<CniReply> =>
      cni({ command: 'DEL', containerID: id, netns: `/var/run/netns/${id}`, ifname: 'eth0', stdin: { ...conf(net, node), ipam: ipam(node) } });
    // Freed, an address is not handed out again at once while others are free: the cursor is the pool's.
    const first = addressOf(await add('n1', 'rr0'));
    expect((await del('n1', 'rr0')).code).toBe(0);
    expect(addressOf(await add('n2', 'rr1'))).not.toBe(first);
    expect((await del('n2', 'rr1')).code).toBe(0);
    // 10.64.0.1-14 usable: .1 is the gateway, .3 and .8-.11 are excluded: 8 addresses to give.
    const got = new Map<string, string>();
    for (let i = 0; i < 8; i++) {
      const r = await add(i % 2 ? 'n2' : 'n1', `r${i}`);
      expect(r.code, r.stdout).toBe(0);
      expect(r.json.ips.map((ip: { address: string }) => ip.address.includes(':'))).toEqual([false, true]);
      got.set(`r${i}`, addressOf(r));
    }
    expect([...got.values()].sort()).toEqual(['10.64.0.12', '10.64.0.13', '10.64.0.14', '10.64.0.2', '10.64.0.4', '10.64.0.5', '10.64.0.6', '10.64.0.7']);
    expect((await add('n1', 'full')).json?.code).toBe(100);
    expect((await add('n1', 'excluded', 'IP=10.64.0.9')).json?.code).toBe(101);
    expect((await add('n1', 'gateway', 'IP=10.64.0.1')).json?.code).toBe(101);
    // A requested address, once free, goes to whoever asks for it.
    expect((await del('n2', 'r3')).code).toBe(0);
    expect(addressOf(await add('n1', 'asked', `IP=${got.get('r3')}`))).toBe(got.get('r3'));
  }, 60_000);

  it('excluded stretches are jumped, never read or searched through: a /64 without its first /96, a /8 without 2,000 /24s', async () => {
    const net = newNet({ name: 'widenet', subnet: '10.0.0.0/8' });
    const ipam = (node: string) => ({
      ...conf(net, node).ipam,
      ranges: [[{ subnet: net.subnet }], [{ subnet: 'fd65::/64' }]],
      exclude: ['fd65::/96', ...Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`)],
    });
    const run = (command: string, node: string, id: string): Promise<CniReply> =>
      cni({
        command,
        containerID: id,
        netns: id ? `/var/run/netns/${id}` : '',
        ifname: id ? 'eth0' : '',
        stdin: { ...conf(net, node), ipam: ipam(node) },
      });
    // Each call would step through 2^32 excluded addresses if it walked: the test's timeout is the hang guard.
    expect((await run('STATUS', 'n1', '')).code).toBe(0);
    const a = await run('ADD', 'n1', 'wide0');
    expect(a.json?.ips?.map((ip: { address: string }) => ip.address)).toEqual(['10.7.208.0/8', 'fd65::1:0:0/64']);
    const b = await run('ADD', 'n2', 'wide1');
    expect(b.code, b.stdout).toBe(0);
    expect(b.json.ips[1].address).not.toBe('fd65::1:0:0/64');
    expect((await run('STATUS', 'n2', '')).code).toBe(0);
    for (const [node, id] of [
      ['n1', 'wide0'],
      ['n2', 'wide1'],
    ] as const)
      expect((await run('DEL', node, id)).code).toBe(0);
  }, 60_000);

  it('two networks with overlapping ranges in one pool never share an address', async () => {
    // Both networks hand out the same six addresses: twelve ADDs at once, half to each, from two nodes.
    const a = newNet({ name: 'net-a', pool: 'shared', subnet: '10.52.0.0/28', rangeStart: '10.52.0.2', rangeEnd: '10.52.0.7' });
    const b = { ...a, name: 'net-b' };
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => spawned('ADD', i % 2 ? b : a, i % 3 ? 'n1' : 'n2', `o${i}`)));
    const got = replies.filter((r) => r.code === 0).map(addressOf);
    expect(got.sort()).toEqual(['10.52.0.2', '10.52.0.3', '10.52.0.4', '10.52.0.5', '10.52.0.6', '10.52.0.7']);
    for (const r of replies.filter((x) => x.code !== 0)) expect(r.json?.code, r.stdout).toBe(100);
  }, 60_000);

  it('GC on two nodes at once, while both nodes ADD: each frees only its own attachments the runtime no longer lists', async () => {
    const net = newNet({ subnet: '10.53.0.0/24' });
    const nodes = ['n1', 'n2'];
    const ids = (node: string, kind: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${node}-${kind}${i}`);
    for (const node of nodes) for (const id of [...ids(node, 'keep', 3), ...ids(node, 'stale', 3)]) expect((await call('ADD', net, node, id)).code).toBe(0);
    const listed = (node: string) => [...ids(node, 'keep', 3), ...ids(node, 'new', 4)].map((containerID) => ({ containerID, ifname: 'eth0' }));
    // The runtime lists what it runs, including the pods it is starting right now.
    const replies = await Promise.all([
      ...nodes.map((node) => spawned('GC', net, node, '', { 'cni.dev/valid-attachments': listed(node) })),
      ...nodes.flatMap((node) => ids(node, 'new', 4).map((id) => spawned('ADD', net, node, id))),
    ]);
    for (const r of replies) expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const node of nodes) {
      for (const id of [...ids(node, 'keep', 3), ...ids(node, 'new', 4)]) expect((await call('CHECK', net, node, id)).code, id).toBe(0);
      for (const id of ids(node, 'stale', 3)) expect((await call('CHECK', net, node, id)).json?.code, id).toBe(3);
    }
    expect(held(net)).toHaveLength(14);
  }, 120_000);

  it('quorum lost: ADD code 11 within timeoutMs, DEL succeeds with a journal entry, STATUS ready (code 50 with statusScope "cluster"); back: the journal frees the address', async () => {
    const net = newNet({ subnet: '10.54.0.0/29' });
    const first = await call('ADD', net, 'n1', 'q1');
    expect(first.code, first.stdout).toBe(0);
    await etcd.cluster.loseQuorum();
    try {
      const t0 = Date.now();
      const add = await call('ADD', net, 'n1', 'q2', {}, 1500);
      const took = Date.now() - t0;
      expect(add.json?.code, add.stdout).toBe(11);
      expect(add.json?.msg).toMatch(/127\.0\.0\.1/);
      expect(took).toBeLessThan(1500 + 2500);
      // STATUS reads without the lock: both scopes wait out the outage while the DEL does.
      const c = conf(net, 'n1', {}, 1500);
      const [del, status, strict] = await Promise.all([
        call('DEL', net, 'n1', 'q1', {}, 1500),
        call('STATUS', net, 'n1', '', {}, 1500),
        cni({
          command: 'STATUS',
          containerID: '',
          netns: '',
          ifname: '',
          stdin: { ...c, ipam: { ...c.ipam, cluster: { ...c.ipam.cluster, statusScope: 'cluster' } } },
        }),
      ]);
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(del.stderr).toMatch(/journaled/);
      const journal = join(root.dir, 'n1', 'lan', 'released');
      expect(readdirSync(journal)).toHaveLength(1);
      // The whole cluster's outage: by default no reason to mark every node NotReady (docs/cluster.md).
      expect(status.code, status.stdout).toBe(0);
      expect(status.stderr).toMatch(/STATUS is ready although .*127\.0\.0\.1/);
      expect(strict.json?.code, strict.stdout).toBe(50);
      console.log(`quorum lost: ADD answered code 11 in ${took} ms (timeoutMs 1500)`);
    } finally {
      await etcd.cluster.restoreQuorum();
    }
    // Still taken until a call on n1 reaches etcd and replays the journal.
    expect(held(net)).toHaveLength(1);
    const next = await call('ADD', net, 'n1', 'q3');
    expect(next.code, next.stdout).toBe(0);
    expect(existsSync(join(root.dir, 'n1', 'lan', 'released')) ? readdirSync(join(root.dir, 'n1', 'lan', 'released')) : []).toEqual([]);
    expect((await call('CHECK', net, 'n1', 'q1')).json?.code).toBe(3);
  }, 120_000);

  it('a DEL journaled during an outage never frees a later ADD of the same attachment', async () => {
    const net = newNet({ subnet: '10.55.0.0/29' });
    expect((await call('ADD', net, 'n1', 'same')).code).toBe(0);
    await etcd.cluster.loseQuorum();
    try {
      expect((await call('DEL', net, 'n1', 'same', {}, 1500)).code).toBe(0);
    } finally {
      await etcd.cluster.restoreQuorum();
    }
    const again = await call('ADD', net, 'n1', 'same');
    expect(again.code, again.stdout).toBe(0);
    // Any later call replays nothing more: the new lease stays.
    expect((await call('ADD', net, 'n1', 'other')).code).toBe(0);
    const check = await call('CHECK', net, 'n1', 'same', { prevResult: again.json });
    expect(check.code, check.stdout).toBe(0);
  }, 120_000);

  it("the operator CLI on a cluster network: list with nodes, status, and check and gc judge only this node's leases", async () => {
    const net = newNet({ name: 'clinet', subnet: '10.56.0.0/24' });
    await addAll(net, [
      ['n1', 'k1'],
      ['n1', 'k2'],
      ['n2', 'k3'],
    ]);
    // As node n1 sees it: its config names the pool and the node.
    const args = [...cliArgs(net, 'n1'), '--json'];
    const list = await cliCall(['list', ...args]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.leases.map((l: { node: string }) => l.node).sort()).toEqual(['n1', 'n1', 'n2']);
    expect((await cliCall(['list', ...args, '--node', 'n2'])).json.leases).toHaveLength(1);
    const status = await cliCall(['status', ...args]);
    expect(status.json.networks.find((n: { network: string }) => n.network === 'clinet')).toMatchObject({ leases: 3 });
    // n1's recorded netns paths do not exist on this machine: its two leases are leaks; n2's are not n1's to judge.
    const check = await cliCall(['check', ...args]);
    expect(check.code, check.stderr).toBe(1);
    expect(check.json.findings.map((f: { kind: string; containerID: string }) => `${f.kind}:${f.containerID}`).sort()).toEqual([
      'netns-gone:k1',
      'netns-gone:k2',
    ]);
    const gc = await cliCall(['gc', ...args]);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.json.freed.map((f: { containerID: string }) => f.containerID).sort()).toEqual(['k1', 'k2']);
    expect((await cliCall(['list', ...args])).json.leases.map((l: { containerID: string }) => l.containerID)).toEqual(['k3']);
  }, 60_000);

  it("gc --cri on a cluster network: this node's leases of sandboxes its runtime does not list are freed, other nodes' are not", async () => {
    const net = newNet({ name: 'crinet', subnet: '10.57.0.0/24' });
    await addAll(net, [
      ['n1', 'live'],
      ['n1', 'gone'],
      ['n2', 'elsewhere'],
    ]);
    const cri = await startFakeCri(root.dir);
    try {
      cri.sandboxes = [{ id: 'live' }];
      // --grace 0s: these leases are seconds old, and the runtime's list is all there is to go by.
      const gc = await cliCall(['gc', '--cri', cri.endpoint, '--grace', '0s', ...cliArgs(net, 'n1'), '--json']);
      expect(gc.code, gc.stderr).toBe(0);
      expect(gc.json.freed.map((f: { containerID: string; reason: string }) => `${f.reason}:${f.containerID}`)).toEqual(['not-valid:gone']);
      const left = (await cliCall(['list', ...cliArgs(net, 'n1'), '--json'])).json.leases.map(
        (l: { node: string; containerID: string }) => `${l.node}:${l.containerID}`,
      );
      expect(left.sort()).toEqual(['n1:live', 'n2:elsewhere']);
    } finally {
      await cri.stop();
    }
  }, 60_000);

  it("a dead node's leases: check reports its silence and any index drift; release --node frees them once it is silent, or with --force", async () => {
    const net = newNet({ name: 'deadnet', subnet: '10.59.0.0/24' });
    await addAll(net, [
      ['n1', 'k1'],
      ['n3', 'd1'],
      ['n3', 'd2'],
    ]);
    const args = [...cliArgs(net, 'n1'), '--json', '--silent-after', '1h'];
    const kinds = async (): Promise<string[]> =>
      checkJson.parse((await cliCall(['check', ...args])).json).findings.map((f) => `${f.kind}:${f.containerID ?? ''}`);
    expect(await kinds()).not.toContain('node-silent:');

    // n3 was seen a moment ago: it may still run pods.
    const refused = await cliCall(['release', ...args, '--node', 'n3']);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stderr).toMatch(
      /nothing freed: deadnet: 2 lease\(s\) of node n3 not freed: node n3 was seen \d+s ago, within --silent-after.*kubectl get node.*--force/,
    );
    expect(held(net)).toHaveLength(3);

    // Three hours of silence (its seen time set back as a node that died then would have left it).
    etcd.cluster.etcdctl(['put', `${net.prefix}/seen/n3`, JSON.stringify({ at: new Date(Date.now() - 3 * 3_600_000).toISOString() })]);
    const silent = (await cliCall(['check', ...args])).json.findings.filter((f: { kind: string }) => f.kind === 'node-silent');
    expect(silent).toHaveLength(1);
    expect(silent[0].detail).toMatch(/node n3 holds 2 lease\(s\) .* was last seen 3h00m ago .*leasehold release --node n3/);
    const freed = await cliCall(['release', ...args, '--node', 'n3']);
    expect(freed.code, freed.stderr).toBe(0);
    expect(freed.json.freed.map((f: { containerID: string }) => f.containerID).sort()).toEqual(['d1', 'd2']);
    expect(held(net)).toHaveLength(1);
    expect((await cliCall(['release', ...args, '--node', 'n3'])).stderr).toMatch(/node n3: no leases/);

    // A node at work: --force frees its leases anyway.
    expect((await call('ADD', net, 'n3', 'd3')).code).toBe(0);
    expect((await cliCall(['release', ...args, '--node', 'n3', '--force'])).json.freed.map((f: { containerID: string }) => f.containerID)).toEqual(['d3']);

    // The indexes drifting from the records (never done by leasehold: one transaction writes both).
    etcd.cluster.etcdctl(['del', `${net.prefix}/nodes/n1/deadnet/k1/eth0`]);
    etcd.cluster.etcdctl(['put', `${net.prefix}/nodes/n9/deadnet/ghost/eth0`, '']);
    // An address key no record owns (etcdctl at work): reported, and freed only with --force.
    const stray = `${net.prefix}/pools/${net.pool}/addresses/v4/0a3b00fa`;
    etcd.cluster.etcdctl(['put', stray, JSON.stringify({ network: 'deadnet', containerID: 'ghost2', ifname: 'eth0' })]);
    expect(await kinds()).toEqual(expect.arrayContaining(['index-missing:k1', 'index-orphan:ghost', 'orphan-claim:ghost2']));
    expect((await cliCall(['release', ...args, '10.59.0.250'])).stderr).toMatch(
      /claim 10\.59\.0\.250 not freed: its address key names ghost2\/eth0, which has no lease record/,
    );
    expect((await cliCall(['release', ...args, '10.59.0.250', '--force'])).code).toBe(0);
    expect(held(net)).not.toContain(stray);
    // On a node's own disk there are no nodes.
    const empty = join(root.dir, 'no-configs');
    mkdirSync(empty, { recursive: true });
    const disk = await cliCall(['release', '--data-dir', join(root.dir, 'n1'), '--cni-conf-dir', empty, '--node', 'n3']);
    expect(disk.code).toBe(2);
    expect(disk.stderr).toMatch(/--node applies to networks in cluster mode/);
  }, 60_000);

  it("migrate moves a node's disk leases into the pool: checked first, all or nothing; --dry-run; idempotent", async () => {
    const net = newNet({ name: 'movenet', subnet: '10.62.0.0/24' });
    const { cluster: _, ...diskIpam } = conf(net, 'n5').ipam;
    const onDisk = (command: string, id: string): Promise<CniReply> =>
      cni({ command, containerID: id, netns: `/var/run/netns/${id}`, ifname: 'eth0', stdin: { ...conf(net, 'n5'), ipam: diskIpam } });
    const m1 = addressOf(await onDisk('ADD', 'm1'));
    const m2 = addressOf(await onDisk('ADD', 'm2'));
    // Another node took m2's address in the pool meanwhile.
    const x = await call('ADD', net, 'n6', 'x', {}, undefined, `IP=${m2}`);
    expect(addressOf(x)).toBe(m2);
    const args = cliArgs(net, 'n5');
    const refused = await cliCall(['migrate', ...args]);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`movenet: nothing moved: m2/eth0: ${m2.replace(/\./g, '\\.')} is held in the pool by x/eth0`));
    expect(held(net)).toHaveLength(1);

    expect((await call('DEL', net, 'n6', 'x')).code).toBe(0);
    const dry = await cliCall(['migrate', ...args, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json.leases.map((l: { containerID: string; action: string }) => `${l.containerID}:${l.action}`).sort()).toEqual([
      'm1:would-move',
      'm2:would-move',
    ]);
    expect(held(net)).toHaveLength(0);

    const moved = await cliCall(['migrate', ...args, '--json']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.json.leases.map((l: { containerID: string; action: string }) => `${l.containerID}:${l.action}`).sort()).toEqual(['m1:moved', 'm2:moved']);
    expect(held(net)).toHaveLength(2);
    expect(readdirSync(join(root.dir, 'n5', 'movenet', 'leases'))).toEqual([]);
    expect((await cliCall(['migrate', ...args])).stdout).toMatch(/nothing to move/);
    // The moved attachment is this node's in the pool: its repeated ADD gets its address, its DEL frees it.
    expect(addressOf(await call('ADD', net, 'n5', 'm1'))).toBe(m1);
    expect(
      (await cliCall(['list', ...args, '--json'])).json.leases.map((l: { containerID: string; node: string }) => `${l.containerID}@${l.node}`).sort(),
    ).toEqual(['m1@n5', 'm2@n5']);
    expect((await call('DEL', net, 'n5', 'm1')).code).toBe(0);
    expect(held(net)).toHaveLength(1);
    // A migration cut short after the claim: the record is in the pool, the disk still has it; a rerun removes it.
    const m3 = addressOf(await onDisk('ADD', 'm3'));
    expect(addressOf(await call('ADD', net, 'n5', 'm3', {}, undefined, `IP=${m3}`))).toBe(m3);
    const rerun = await cliCall(['migrate', ...args, '--json']);
    expect(rerun.json.leases.map((l: { containerID: string; action: string }) => `${l.containerID}:${l.action}`)).toEqual(['m3:in-pool']);
    expect(readdirSync(join(root.dir, 'n5', 'movenet', 'leases'))).toEqual([]);

    // Ranges that do not match: a lease outside the cluster config's ranges stops the whole migration.
    const narrow = newNet({ name: 'narrownet', subnet: '10.63.0.0/24', rangeStart: '10.63.0.100', rangeEnd: '10.63.0.150' });
    const { cluster: __, ...wide } = conf({ ...narrow, rangeStart: undefined, rangeEnd: undefined }, 'n5').ipam;
    const stray = addressOf(
      await cni({ command: 'ADD', containerID: 's1', netns: '/var/run/netns/s1', ifname: 'eth0', stdin: { ...conf(narrow, 'n5'), ipam: wide } }),
    );
    const outside = await cliCall(['migrate', ...cliArgs(narrow, 'n5')]);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain(`s1/eth0: ${stray} outside the configured ranges`);
  }, 60_000);

  it("the CLI's readers write nothing: check and migrate --dry-run leave etcd's revision and the node's data dir as they were, a journaled release pending", async () => {
    const net = newNet({ name: 'readnet', subnet: '10.63.0.0/24' });
    const { cluster: _, ...diskIpam } = conf(net, 'r1').ipam;
    expect((await call('ADD', net, 'r1', 'p1')).code).toBe(0);
    expect((await call('ADD', net, 'r1', 'p2')).code).toBe(0);
    // A disk lease still to migrate, and a DEL of p1 journaled while etcd was away (only a writer replays it).
    const onDisk = await cni({
      command: 'ADD',
      containerID: 'd1',
      netns: '/var/run/netns/d1',
      ifname: 'eth0',
      stdin: { ...conf(net, 'r1'), ipam: diskIpam },
    });
    expect(onDisk.code, onDisk.stdout).toBe(0);
    const nodeDir = join(root.dir, 'r1');
    ReleaseJournal.of(join(nodeDir, net.name)).add({ network: net.name, containerID: 'p1', ifname: 'eth0', at: new Date(Date.now() + 60_000).toISOString() });
    const revision = (): string => JSON.parse(etcd.cluster.etcdctl(['get', '/', '-w', 'json'])).header.revision;
    const before = { revision: revision(), tree: tree(nodeDir) };
    const args = cliArgs(net, 'r1');
    const check = await cliCall(['check', ...args, '--json']);
    expect(check.stderr).toBe('');
    const dry = await cliCall(['migrate', ...args, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json.leases.map((l: { containerID: string; action: string }) => `${l.containerID}:${l.action}`)).toEqual(['d1:would-move']);
    for (const cmd of ['status', 'list']) expect((await cliCall([cmd, ...args])).code).toBe(0);
    expect(revision()).toBe(before.revision);
    expect(tree(nodeDir)).toEqual(before.tree);
    expect(recordOf(net, 'p1')).toBeDefined();
  }, 60_000);

  it('DEL of an attachment whose record the lease decoder refuses frees the address keys that name it (this node only), and the record', async () => {
    const net = newNet({ name: 'badrec', subnet: '10.64.0.0/24' });
    const mine = addressOf(await call('ADD', net, 'b1', 'u1'));
    const theirs = addressOf(await call('ADD', net, 'b2', 'u2'));
    const key = (id: string) => `${net.prefix}/networks/${net.name}/leases/${id}/eth0`;
    // Each record now names a non-canonical address, as a hand edit or an older writer could leave it.
    for (const [id, a] of [
      ['u1', mine],
      ['u2', theirs],
    ] as const) {
      const bad = { ...recordOf(net, id), addresses: [a.replace(/\.(\d+)$/, '.0$1')] };
      etcd.cluster.etcdctl(['put', key(id), JSON.stringify(bad)]);
    }
    expect(held(net)).toHaveLength(2);
    const del = await call('DEL', net, 'b1', 'u1');
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(held(net)).toHaveLength(1);
    expect(recordOf(net, 'u1')).toBeUndefined();
    // Another node's attachment of the same container id is never this node's to free, broken or not.
    const foreign = await call('DEL', net, 'b1', 'u2');
    expect(foreign.code, foreign.stdout + foreign.stderr).toBe(0);
    expect(held(net)).toHaveLength(1);
    expect(recordOf(net, 'u2')).toBeDefined();
    // The address is free again for any node.
    expect(addressOf(await call('ADD', net, 'b2', 'u3', {}, undefined, `IP=${mine}`))).toBe(mine);
  }, 60_000);

  it('the leader killed mid-burst, then a member SIGSTOPped: no address twice, every acknowledged lease present', async () => {
    const net = newNet({ subnet: '10.57.0.0/24' });
    const nodes = ['n1', 'n2', 'n3'];
    const acked = new Map<string, { node: string; reply: CniReply }>();
    let worst = 0;
    let retried = 0;
    // A runtime retries an ADD that answered "try again later"; a retry finds a claim that had committed.
    const addUntilDone = async (node: string, id: string): Promise<void> => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const t0 = Date.now();
        const r = await spawned('ADD', net, node, id, {}, 2000);
        worst = Math.max(worst, Date.now() - t0);
        if (r.code === 0) {
          acked.set(id, { node, reply: r });
          return;
        }
        expect(r.json?.code, r.stdout).toBe(11);
        retried++;
      }
      throw new Error(`ADD ${id} never succeeded`);
    };
    const burst = Promise.all(
      nodes.map(async (node, k) => {
        for (let i = 0; i < 10; i++) await addUntilDone(node, `z${k}-${i}`);
      }),
    );
    const faults: string[] = [];
    const leader = await etcd.cluster.leader();
    await new Promise((r) => setTimeout(r, 800));
    await etcd.cluster.kill(leader);
    faults.push(`leader m${leader + 1} killed`);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await etcd.cluster.restart(leader);
      const other = (leader + 1) % 3;
      etcd.cluster.pause(other);
      faults.push(`m${other + 1} stopped`);
      await new Promise((r) => setTimeout(r, 1500));
      etcd.cluster.resume(other);
      await burst;
    } finally {
      if (!etcd.cluster.isAlive(leader)) await etcd.cluster.restart(leader);
      for (let i = 0; i < 3; i++) etcd.cluster.resume(i);
    }
    const addresses = [...acked.values()].map((a) => addressOf(a.reply));
    expect(acked.size).toBe(30);
    expect(new Set(addresses).size).toBe(30);
    expect(held(net)).toHaveLength(30);
    for (const [id, a] of acked) {
      const check = await call('CHECK', net, a.node, id, { prevResult: a.reply.json });
      expect(check.code, `${id}: ${check.stdout}`).toBe(0);
    }
    console.log(`chaos: ${faults.join(', ')}; 30 ADDs acknowledged, 30 distinct, ${retried} answered 11 and were retried, worst ADD ${worst} ms`);
  }, 180_000);

  it("a claim whose reply was lost: the ADD answers 11, and the runtime's retry gets the same address", async () => {
    const net = newNet({ subnet: '10.58.0.0/29' });
    // A forwarder that passes every request to etcd but swallows the answers to transactions that write
    // (the client sends each request in one piece): the claim commits, and the plugin never hears so.
    const upstream = new URL(etcd.cluster.endpoints[0]!);
    const proxy = createServer((c) => {
      const up = createConnection({ host: upstream.hostname, port: Number(upstream.port) });
      let swallow = false;
      c.on('data', (d) => {
        const text = d.toString('latin1');
        if (/^POST \S+ HTTP/.test(text)) swallow = text.startsWith('POST /v3/kv/txn ') && text.includes('"request_put"');
        up.write(d);
      });
      up.on('data', (d) => {
        if (!swallow) c.write(d);
      });
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
      c.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as AddressInfo).port;
    try {
      const lost = await cni({
        command: 'ADD',
        containerID: 'lost',
        netns: '/var/run/netns/lost',
        ifname: 'eth0',
        stdin: {
          ...conf(net, 'n1', {}, 1500),
          ipam: { ...conf(net, 'n1').ipam, cluster: { ...conf(net, 'n1').ipam.cluster, etcd: { endpoints: [`http://127.0.0.1:${port}`] }, timeoutMs: 1500 } },
        },
      });
      expect(lost.json?.code, lost.stdout).toBe(11);
      expect(lost.json?.msg).toMatch(/may have been applied/);
    } finally {
      proxy.close();
    }
    // It did commit: the address is held for this attachment, and the retry returns exactly it.
    expect(held(net)).toHaveLength(1);
    const retry = await call('ADD', net, 'n1', 'lost');
    expect(retry.code, retry.stdout).toBe(0);
    expect(held(net)).toHaveLength(1);
    expect(`${net.prefix}/pools/${net.pool}/addresses/v4/${(0x0a3a0000 + Number(addressOf(retry).split('.')[3])).toString(16).padStart(8, '0')}`).toBe(
      held(net)[0],
    );
  }, 60_000);

  it("a record an older leasehold wrote (no machine): GC and the full range's reclaim leave it, a DEL of that attachment frees it", async () => {
    const net = newNet({ subnet: '10.65.0.0/29', rangeStart: '10.65.0.2', rangeEnd: '10.65.0.2' });
    expect((await call('ADD', net, 'old1.dc-a', 'legacy')).code).toBe(0);
    const key = `${net.prefix}/networks/${net.name}/leases/legacy/eth0`;
    const { machine, ...older } = recordOf(net, 'legacy')!;
    expect(machine).toMatch(/^[0-9a-f]{32}$/);
    // As an older leasehold wrote it: no machine, and the node by its short host name.
    etcd.cluster.etcdctl(['put', key, `${JSON.stringify({ ...older, node: 'old1', bootId: '00000000-0000-4000-8000-000000000000' })}\n`]);
    // Another machine of the same name may have made it: no rule frees it in bulk.
    expect((await call('GC', net, 'old1.dc-a', '', { 'cni.dev/valid-attachments': [] })).code).toBe(0);
    expect((await call('ADD', net, 'old1.dc-a', 'next')).json?.code).toBe(100);
    expect(recordOf(net, 'legacy')).toBeDefined();
    // Another node's DEL leaves it; this node's DEL of that attachment frees it.
    expect((await call('DEL', net, 'old2', 'legacy')).code).toBe(0);
    expect(recordOf(net, 'legacy')).toBeDefined();
    expect((await call('DEL', net, 'old1.dc-a', 'legacy')).code).toBe(0);
    expect(recordOf(net, 'legacy')).toBeUndefined();
    expect(held(net)).toEqual([]);
  }, 60_000);

  describe('a DEL journaled during an outage, behind a proxy that answers 503 "no leader" to chosen requests', () => {
    let proxy: EtcdFaultProxy;
    beforeAll(async () => {
      proxy = await EtcdFaultProxy.start(etcd.cluster.endpoints[0]!);
    });
    afterAll(async () => {
      await proxy?.close();
    });
    const isRecordRead = (r: { path: string; body: string }): boolean =>
      r.path === '/v3/kv/range' && (keyOf({ ...r, method: 'POST' }) ?? '').includes('/leases/');
    const journal = (node: string): string[] => {
      const dir = join(root.dir, node, 'lan', 'released');
      return existsSync(dir) ? readdirSync(dir) : [];
    };

    it("a re-ADD while etcd fails the replay's read of the record answers 11, and the journaled DEL never frees the live lease", async () => {
      // One address: whoever else gets it while the re-ADD holds it is a duplicate.
      const net = newNet({ subnet: '10.60.0.0/29', rangeStart: '10.60.0.2', rangeEnd: '10.60.0.2', endpoints: [proxy.endpoint] });
      const first = await call('ADD', net, 'j1', 'pod1');
      expect(first.code, first.stdout).toBe(0);
      proxy.failWhen = () => true;
      const del = await call('DEL', net, 'j1', 'pod1', {}, 800);
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(journal('j1')).toHaveLength(1);
      // etcd is back, except that every read of a lease record answers "no leader": the replay cannot see pod1's record.
      proxy.failWhen = isRecordRead;
      const readd = await call('ADD', net, 'j1', 'pod1', {}, 800);
      expect(proxy.failed.some(isRecordRead)).toBe(true);
      expect(readd.json?.code, readd.stdout).toBe(11);
      expect(readd.json?.msg).toMatch(/journaled .* has not reached etcd yet/);
      proxy.failWhen = () => false;
      // The runtime's retry: the replay frees the old incarnation first, then the ADD claims afresh.
      const retry = await call('ADD', net, 'j1', 'pod1');
      expect(retry.code, retry.stdout).toBe(0);
      expect(journal('j1')).toEqual([]);
      const next = await call('ADD', net, 'j1', 'pod2');
      expect(next.json?.code, `pod2 got ${addressOf(next)} while pod1 holds ${addressOf(retry)}`).toBe(100);
      expect((await call('CHECK', net, 'j1', 'pod1', { prevResult: retry.json })).code).toBe(0);
      expect(held(net)).toHaveLength(1);
    }, 60_000);

    it('a replay never frees a record changed after the DEL read it', async () => {
      const net = newNet({ subnet: '10.61.0.0/29', rangeStart: '10.61.0.2', rangeEnd: '10.61.0.2', endpoints: [proxy.endpoint] });
      const first = await call('ADD', net, 'j2', 'pod1');
      expect(first.code, first.stdout).toBe(0);
      // DEL reads the record, then its release transaction meets "no leader": journaled with what it read.
      proxy.failWhen = (r) => r.path === '/v3/kv/txn';
      const del = await call('DEL', net, 'j2', 'pod1', {}, 800);
      proxy.failWhen = () => false;
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(journal('j2')).toHaveLength(1);
      // The record is written again after the DEL read it (what a later ADD of the same attachment does).
      const key = `${net.prefix}/networks/${net.name}/leases/pod1/eth0`;
      const value = etcd.cluster.etcdctl(['get', key, '--print-value-only']).trim();
      expect(value).toMatch(/"containerID":"pod1"/);
      etcd.cluster.etcdctl(['put', key, `${value}\n`]);
      const next = await call('ADD', net, 'j2', 'pod2');
      expect(next.json?.code, `pod2 got ${addressOf(next)}, pod1's address`).toBe(100);
      expect(journal('j2')).toEqual([]);
      expect(etcd.cluster.etcdctl(['get', key, '--print-value-only']).trim()).toBe(value);
      expect(held(net)).toHaveLength(1);
    }, 60_000);
  });

  describe.skipIf(!!noMachines)(`two machines on one etcd${noMachines ? ` (skipped: ${noMachines})` : ''}`, () => {
    let proxy: EtcdFaultProxy;
    beforeAll(async () => {
      proxy = await EtcdFaultProxy.start(etcd.cluster.endpoints[0]!);
    });
    afterAll(async () => {
      await proxy?.close();
    });

    it("worker1.dc-a and worker1.dc-b are two nodes: GC and the full range's reclaim on one never free the other's lease", async () => {
      const net = newNet({ subnet: '10.62.0.0/29', rangeStart: '10.62.0.2', rangeEnd: '10.62.0.3' });
      const [a, b] = machines(['dc-a', 'dc-b'], ['worker1.dc-a', 'worker1.dc-b']);
      const a1 = await addOn(a, net, 'a1');
      const record = recordOf(net, 'a1')!;
      // Another machine has another boot: write a1's record as machine a's boot would have.
      const key = `${net.prefix}/networks/${net.name}/leases/a1/eth0`;
      etcd.cluster.etcdctl(['put', key, `${JSON.stringify({ ...record, bootId: '00000000-0000-4000-8000-000000000000' })}\n`]);
      const gc = await onMachine(b, 'GC', net, '', { 'cni.dev/valid-attachments': [] });
      expect(gc.code, gc.stdout + gc.stderr).toBe(0);
      expect(recordOf(net, 'a1'), 'GC on worker1.dc-b freed worker1.dc-a lease').toBeDefined();
      await addOn(b, net, 'b1');
      // The range is full: b's reclaim of stale-boot leases must not take a's.
      const b2 = await onMachine(b, 'ADD', net, 'b2');
      expect(b2.json?.code, `b2 got ${addressOf(b2)}, a1's address was ${addressOf(a1)}`).toBe(100);
      expect((await onMachine(a, 'CHECK', net, 'a1', { prevResult: a1.json })).code).toBe(0);
      expect(held(net)).toHaveLength(2);
      expect(record.node).toBe('worker1.dc-a');
      // The machine is recorded, but never its id itself (systemd asks applications for a keyed hash).
      expect(record.machine).toMatch(/^[0-9a-f]{32}$/);
      expect(record.machine).not.toBe(a.id);
    }, 60_000);

    it('two machines left as localhost: GC, DEL and journal replay on the second free nothing of the first, and its ADD is refused (code 7)', async () => {
      const net = newNet({ subnet: '10.63.0.0/29', rangeStart: '10.63.0.2', rangeEnd: '10.63.0.5' });
      const [c, d] = machines(['lh-c', 'lh-d'], ['localhost', 'localhost']);
      const c1 = await addOn(c, net, 'c1');
      expect((await onMachine(d, 'GC', net, '', { 'cni.dev/valid-attachments': [] })).code).toBe(0);
      expect(recordOf(net, 'c1'), "GC on the second localhost freed the first one's lease").toBeDefined();
      expect((await onMachine(d, 'DEL', net, 'c1')).code).toBe(0);
      expect(recordOf(net, 'c1'), "DEL on the second localhost freed the first one's lease").toBeDefined();
      // A DEL the second machine journals while etcd has no leader, replayed by its next call.
      const viaProxy = { ...net, endpoints: [proxy.endpoint] };
      proxy.failWhen = () => true;
      const del = await onMachine(d, 'DEL', viaProxy, 'c1', {}, 800);
      proxy.failWhen = () => false;
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(readdirSync(join(root.dir, d.label, net.name, 'released'))).toHaveLength(1);
      expect((await onMachine(d, 'GC', viaProxy, '', { 'cni.dev/valid-attachments': [] })).code).toBe(0);
      expect(readdirSync(join(root.dir, d.label, net.name, 'released'))).toEqual([]);
      expect(recordOf(net, 'c1'), "the second localhost's journal replay freed the first one's lease").toBeDefined();
      const d1 = await onMachine(d, 'ADD', net, 'd1');
      expect(d1.json?.code, d1.stdout).toBe(7);
      expect(d1.json?.msg).toMatch(/node name localhost is used in etcd by another machine/);
      expect((await onMachine(c, 'CHECK', net, 'c1', { prevResult: c1.json })).code).toBe(0);
      expect(held(net)).toHaveLength(1);
    }, 60_000);

    it('one nodeName configured on two machines: the second one is refused (code 7) and changes nothing', async () => {
      const net = newNet({ subnet: '10.66.0.0/29', rangeStart: '10.66.0.2', rangeEnd: '10.66.0.5' });
      const [g, h] = machines(['cfg-g', 'cfg-h'], ['host-g', 'host-h']).map((m) => ({ ...m, nodeName: 'worker-7' }));
      await addOn(g!, net, 'g1');
      const h1 = await onMachine(h!, 'ADD', net, 'h1');
      expect(h1.json?.code, h1.stdout).toBe(7);
      expect(h1.json?.msg).toMatch(/node name worker-7 is used in etcd by another machine/);
      expect(recordOf(net, 'h1')).toBeUndefined();
      expect(held(net)).toHaveLength(1);
      // The first machine goes on as before.
      await addOn(g!, net, 'g2');
    }, 60_000);

    it('the same containerID on two nodes: the second ADD is refused (code 4), its DEL frees nothing, each node frees only its own', async () => {
      const net = newNet({ subnet: '10.64.0.0/29', rangeStart: '10.64.0.2', rangeEnd: '10.64.0.5' });
      const [e, f] = machines(['node-e', 'node-f'], ['node-e', 'node-f']);
      const onE = await addOn(e, net, 'cnitool-ns1');
      const onF = await onMachine(f, 'ADD', net, 'cnitool-ns1');
      expect(onF.json?.code, `node-f got ${addressOf(onF)}, node-e's address is ${addressOf(onE)}`).toBe(4);
      expect(onF.json?.msg).toMatch(/node node-e/);
      expect((await onMachine(f, 'DEL', net, 'cnitool-ns1')).code).toBe(0);
      expect(recordOf(net, 'cnitool-ns1'), "node-f's DEL freed node-e's lease").toBeDefined();
      const other = await addOn(f, net, 'cnitool-ns2');
      expect(addressOf(other)).not.toBe(addressOf(onE));
      expect((await onMachine(e, 'CHECK', net, 'cnitool-ns1', { prevResult: onE.json })).code).toBe(0);
      expect((await onMachine(e, 'DEL', net, 'cnitool-ns1')).code).toBe(0);
      expect(recordOf(net, 'cnitool-ns1')).toBeUndefined();
      expect(held(net)).toHaveLength(1);
    }, 60_000);
  });
});
