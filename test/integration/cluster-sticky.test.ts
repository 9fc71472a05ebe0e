// Pod-aware allocation in cluster mode, on a real 3-member etcd: holds live in the pool, made by the release's
// guarded transaction and taken over by the ADD's, so a pod moved to another node gets its address there, and
// of two nodes racing for one pod's hold exactly one wins. In-process through runPlugin (each simulated node
// its own dataDir and nodeName), and as processes where the race needs two at once.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Code } from '../../src/base/errors';
import { EtcdClient } from '../../src/etcd/client';
import { runPlugin } from '../../src/plugin/dispatch';
import { ClusterLayout } from '../../src/store/etcd/layout';
import { EtcdPool } from '../../src/store/etcd/pool';
import { clientConfig, clusterForFile } from '../helpers/etcd-cluster';
import { writeFileSync } from 'node:fs';
import { addressOf, cliIn, runCniAsync } from '../helpers/leasehold';

const etcd = clusterForFile('lh-cluster-sticky-');
const { missing, why, root } = etcd;
let n = 0;

const newPrefix = () => `/lh-sticky-${process.pid}-${n++}`;

const conf = (prefix: string, node: string, subnet: string, ipam: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '1.1.0',
    name: 'sts',
    type: 'macvlan',
    ipam: {
      type: 'leasehold',
      dataDir: join(root.dir, node),
      ranges: [[{ subnet }]],
      sticky: { holdSeconds: 300 },
      cluster: { etcd: { endpoints: etcd.cluster.endpoints }, prefix, pool: 'sts', nodeName: node, timeoutMs: 5000 },
      ...ipam,
    },
  });

const podArgs = (pod: string, id: string) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=${id};K8S_POD_UID=u-${id}`;

async function call(command: string, stdin: string, id: string, pod?: string) {
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: command === 'DEL' ? '' : `/var/run/netns/${id}`,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: pod ? podArgs(pod, id) : 'IgnoreUnknown=1',
  };
  const r = await runPlugin(env, () => stdin);
  const json = r.stdout ? JSON.parse(r.stdout) : undefined;
  return { ...r, json, address: json?.ips?.[0]?.address?.split('/')[0] as string | undefined };
}

const get = (key: string) => etcd.cluster.etcdctl(['get', key, '--print-value-only']).trim();
const keys = (prefix: string) =>
  etcd.cluster
    .etcdctl(['get', '--prefix', '--keys-only', prefix])
    .split('\n')
    .filter((l) => l.trim() !== '');
const holdKey = (prefix: string, pod: string) => `${prefix}/networks/sts/holds/shop/${pod}/eth0`;
const addrKey = (prefix: string, hex: string) => `${prefix}/pools/sts/addresses/v4/${hex}`;

describe.skipIf(!!missing)(`ipam.sticky and the cooldown in cluster mode, on a real 3-member etcd${why}`, () => {
  it('a pod deleted on node a gets its address on node b; meanwhile no other pod gets it; a repeated DEL does not extend the hold', async () => {
    const p = newPrefix();
    const onA = conf(p, 'node-a', '10.71.0.0/29');
    const onB = conf(p, 'node-b', '10.71.0.0/29');
    const first = await call('ADD', onA, 'a1', 'web-0');
    expect(first.exitCode, first.stdout).toBe(0);
    const held = first.address!;
    expect((await call('DEL', onA, 'a1', 'web-0')).exitCode).toBe(0);
    const hold = JSON.parse(get(holdKey(p, 'web-0')));
    expect(hold).toMatchObject({ namespace: 'shop', name: 'web-0', ifname: 'eth0', addresses: [held], containerID: 'a1', node: 'node-a' });
    const hex = held
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('');
    // The address key stays, naming the hold: no node of the pool can claim it.
    expect(JSON.parse(get(addrKey(p, hex)))).toEqual({ network: 'sts', hold: { namespace: 'shop', name: 'web-0', ifname: 'eth0' } });
    const kvs = () => JSON.parse(etcd.cluster.etcdctl(['get', holdKey(p, 'web-0'), '-w', 'json'])).kvs;
    const before = kvs();
    expect((await call('DEL', onA, 'a1', 'web-0')).exitCode).toBe(0);
    expect(kvs()).toEqual(before);
    // Four other pods on node b fill every other address; the fifth finds only the held one: code 100.
    const others: string[] = [];
    for (let i = 0; i < 4; i++) others.push((await call('ADD', onB, `b${i}`, `db-${i}`)).address!);
    expect(others).not.toContain(held);
    const full = await call('ADD', onB, 'b9', 'db-9');
    expect(full.json.code).toBe(Code.RangeExhausted);
    expect(full.json.msg).toMatch(/1 of them is held for deleted pods \(ipam\.sticky\), the first until/);
    // The pod comes back on node b with a new sandbox: its address, and the hold is gone.
    const back = await call('ADD', onB, 'b-web', 'web-0');
    expect(back.address).toBe(held);
    expect(keys(holdKey(p, 'web-0'))).toEqual([]);
    expect(JSON.parse(get(addrKey(p, hex)))).toEqual({ network: 'sts', containerID: 'b-web', ifname: 'eth0' });
    // A repeated ADD takes no second address.
    expect((await call('ADD', onB, 'b-web', 'web-0')).address).toBe(held);
    expect(keys(`${p}/pools/sts/addresses/`)).toHaveLength(5);
  });

  it('two nodes racing for one pod’s hold: exactly one gets the held address, and no address is held twice', async () => {
    for (let round = 0; round < 4; round++) {
      const p = newPrefix();
      const first = await call('ADD', conf(p, 'node-a', '10.72.0.0/24'), 'r0', 'web-1');
      await call('DEL', conf(p, 'node-a', '10.72.0.0/24'), 'r0', 'web-1');
      // Two sandboxes of the same pod at once on two nodes (a StatefulSet controller and a node that has not
      // seen the deletion yet), as separate processes.
      const race = await Promise.all(
        (['node-b', 'node-c'] as const).map((node, i) =>
          runCniAsync({ command: 'ADD', containerID: `r${round}-${i}`, args: podArgs('web-1', `r${round}-${i}`), stdin: conf(p, node, '10.72.0.0/24') }),
        ),
      );
      for (const r of race) expect(r.code, r.stdout + r.stderr).toBe(0);
      const got = race.map(addressOf);
      expect(got.filter((a) => a === first.address)).toHaveLength(1);
      expect(new Set(got).size).toBe(2);
      expect(keys(holdKey(p, 'web-1'))).toEqual([]);
    }
  }, 120_000);

  it('at the transaction: two claims built from one read of the hold, one commits and the other is told the address is taken', async () => {
    const p = newPrefix();
    await call('ADD', conf(p, 'node-a', '10.73.0.0/24'), 't0', 'web-2');
    await call('DEL', conf(p, 'node-a', '10.73.0.0/24'), 't0', 'web-2');
    const client = new EtcdClient(clientConfig({ endpoints: etcd.cluster.endpoints, timeoutMs: 5000 }), { kind: 'node' });
    const plan = (node: string, id: string) => {
      const pool = new EtcdPool(client, new ClusterLayout({ prefix: p, pool: 'sts', network: 'sts', node }));
      return { pool, id };
    };
    const [a, b] = [plan('node-b', 't1'), plan('node-c', 't2')];
    const stored = (await a.pool.readHold({ namespace: 'shop', name: 'web-2', ifname: 'eth0' }))!;
    const lease = (id: string) => ({
      format: 1 as const,
      containerID: id,
      ifname: 'eth0',
      addresses: stored.hold.addresses,
      podNamespace: 'shop',
      podName: 'web-2',
      netns: '/x',
      createdAt: '2026-12-07T12:00:00.000Z',
      bootId: null,
    });
    const outs = await Promise.all([a, b].map((x) => x.pool.claim({ lease: lease(x.id), hold: stored })));
    expect(outs.map((o) => o.status).sort()).toEqual(['claimed', 'taken']);
  });

  it('a DEL that cannot reach etcd is journaled with its hold, and the replay leaves the hold the DEL computed', async () => {
    const p = newPrefix();
    const good = conf(p, 'node-j', '10.75.0.0/24');
    const down = JSON.parse(good);
    down.ipam.cluster.etcd.endpoints = ['http://127.0.0.1:1'];
    const held = (await call('ADD', good, 'j1', 'web-3')).address;
    expect((await call('DEL', JSON.stringify(down), 'j1', 'web-3')).exitCode).toBe(0);
    expect(keys(holdKey(p, 'web-3'))).toEqual([]);
    // The node's next call that reaches etcd replays the release: the hold is there, until its DEL's end.
    expect((await call('ADD', good, 'j2', 'db-0')).address).not.toBe(held);
    const hold = JSON.parse(get(holdKey(p, 'web-3')));
    expect(hold).toMatchObject({ addresses: [held], containerID: 'j1' });
    expect(Date.parse(hold.until) - Date.parse(hold.releasedAt)).toBe(300_000);
    expect((await call('ADD', good, 'j3', 'web-3')).address).toBe(held);
  });

  it('a pod gets its held address back in a range holding more keys than the ADD’s first read takes', async () => {
    const p = newPrefix();
    const first = await call('ADD', conf(p, 'node-a', '10.77.0.0/23'), 'w1', 'web-4');
    await call('DEL', conf(p, 'node-a', '10.77.0.0/23'), 'w1', 'web-4');
    // Another network of the pool holds 323 addresses around it, and the cursor stands near the range's end:
    // the search wraps round and reads the held address's key in a window, after the pod's own read of it.
    const x = Number(first.address!.split('.')[3]);
    const v4 = (third: number, fourth: number) => ({ family: 4 as const, value: (10n << 24n) + (77n << 16n) + (BigInt(third) << 8n) + BigInt(fourth) });
    const planted = [
      ...Array.from({ length: 55 }, (_, i) => v4(1, 200 + i)),
      ...Array.from({ length: x - 2 }, (_, i) => v4(0, 2 + i)),
      ...Array.from({ length: 250 }, (_, i) => (x + 1 + i < 256 ? v4(0, x + 1 + i) : v4(1, x + 1 + i - 256))),
    ];
    const client = new EtcdClient(clientConfig({ endpoints: etcd.cluster.endpoints, timeoutMs: 5000 }), { kind: 'node' });
    const layout = new ClusterLayout({ prefix: p, pool: 'sts', network: 'other', node: 'node-x' });
    for (let i = 0; i < planted.length; i += 100) {
      const puts = planted
        .slice(i, i + 100)
        .map((ip) => ({ put: { key: layout.addressKey(ip), value: JSON.stringify({ network: 'other', containerID: `x${ip.value}`, ifname: 'eth0' }) } }));
      await client.txn({ compare: [], success: puts });
    }
    await client.txn({
      compare: [],
      success: [{ put: { key: `${p}/networks/sts/state`, value: JSON.stringify({ format: 1, network: 'sts', cursors: { '0': '10.77.1.220' } }) } }],
    });
    expect((await call('ADD', conf(p, 'node-b', '10.77.0.0/23'), 'w2', 'web-4')).address).toBe(first.address);
  });

  it('the CLI on a cluster network: list and status show the hold, check reports it once ended, gc frees its keys, release --hold ends another', async () => {
    const p = newPrefix();
    const short = conf(p, 'node-a', '10.78.0.0/24', { sticky: { holdSeconds: 1 } });
    const file = join(root.dir, `${p.slice(1)}.conflist`);
    const { ipam } = JSON.parse(short);
    writeFileSync(file, JSON.stringify({ cniVersion: '1.1.0', name: 'sts', plugins: [{ type: 'macvlan', ipam }] }));
    const opts = ['--config', file, '--data-dir', join(root.dir, 'node-a')];
    const a = (await call('ADD', short, 'q1', 'web-5')).address!;
    const b = (await call('ADD', conf(p, 'node-a', '10.78.0.0/24'), 'q2', 'web-6')).address!;
    await call('DEL', short, 'q1', 'web-5');
    await call('DEL', conf(p, 'node-a', '10.78.0.0/24'), 'q2', 'web-6');
    const list = (await cliIn(['list', ...opts, '--json'])).json;
    expect(list.held.map((r: { address: string; pod: string }) => `${r.pod} ${r.address}`).sort()).toEqual([`shop/web-5 ${a}`, `shop/web-6 ${b}`]);
    expect((await cliIn(['status', ...opts, '--json'])).json.networks[0].ranges[0]).toMatchObject({ held: 2 });
    await new Promise((r) => setTimeout(r, 1100));
    const check = await cliIn(['check', ...opts, '--json']);
    expect(check.json.findings.filter((f: { kind: string }) => f.kind === 'hold-expired')).toMatchObject([{ addresses: [a], freeable: true }]);
    const gc = await cliIn(['gc', ...opts, '--json']);
    expect(gc.json.freed).toMatchObject([{ kind: 'hold', reason: 'hold-expired', addresses: [a] }]);
    expect(keys(holdKey(p, 'web-5'))).toEqual([]);
    const released = await cliIn(['release', '--hold', 'shop/web-6', ...opts, '--json']);
    expect(released.json.freed).toMatchObject([{ kind: 'hold', reason: 'released', addresses: [b] }]);
    // Both addresses' keys are gone from the pool: any node may claim them again.
    expect(keys(`${p}/pools/sts/addresses/`)).toEqual([]);
  });

  it('cooldown: a freed address is skipped while another is free, in every node', async () => {
    const p = newPrefix();
    const c = (node: string) => conf(p, node, '10.74.0.0/29', { sticky: undefined, reuseCooldownSeconds: 600 });
    for (const id of ['k2', 'k3', 'k4', 'k5', 'k6']) expect((await call('ADD', c('node-a'), id)).exitCode).toBe(0);
    await call('DEL', c('node-a'), 'k3');
    expect(keys(`${p}/pools/sts/cooling/`)).toEqual([`${p}/pools/sts/cooling/v4/0a4a0003`]);
    await call('DEL', conf(p, 'node-a', '10.74.0.0/29', { sticky: undefined }), 'k5');
    expect((await call('ADD', c('node-b'), 'm1')).address).toBe('10.74.0.5');
    // Only the cooling address is left: it is given, and its cooling key goes with the claim.
    expect((await call('ADD', c('node-b'), 'm2')).address).toBe('10.74.0.3');
    expect(keys(`${p}/pools/sts/cooling/`)).toEqual([]);
  });
});
