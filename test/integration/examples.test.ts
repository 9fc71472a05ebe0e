// Every example in conf.d/ must be a config leasehold accepts and serves, exactly as a runtime passes it.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdCluster, etcdMissing } from '../helpers/etcd-cluster';
import { ROOT, runCni, tempDataDir } from '../helpers/leasehold';

const dir = join(ROOT, 'conf.d');
const data = tempDataDir();
const examples = readdirSync(dir).filter((f) => /\.conf(list)?$/.test(f));
const clustered = examples.some((f) => readFileSync(join(dir, f), 'utf8').includes('"cluster"'));
// A cluster-mode example runs against a real etcd cluster on loopback instead of the one it names.
let etcd: EtcdCluster | undefined;
beforeAll(async () => {
  if (clustered && !etcdMissing()) etcd = await EtcdCluster.start();
}, 60_000);
afterAll(async () => {
  await etcd?.close();
  data.remove();
});

describe.each(examples)('conf.d/%s', (file) => {
  it('is comment-free JSON whose leasehold plugin gets addresses on ADD and frees them on DEL', (ctx) => {
    const list = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const plugin = (list.plugins ?? [list]).find((p: { ipam?: { type?: string } }) => p.ipam?.type === 'leasehold');
    expect(plugin).toBeDefined();
    const ipam = { ...plugin.ipam, dataDir: data.dir };
    if (ipam.cluster) {
      if (!etcd) ctx.skip(`cluster mode needs etcd: ${etcdMissing()}`);
      ipam.cluster = { ...ipam.cluster, etcd: { endpoints: etcd!.endpoints }, prefix: `/lh-examples-${process.pid}` };
    }
    if (ipam.resolvConf) {
      ipam.resolvConf = join(data.dir, 'resolv.conf');
      writeFileSync(ipam.resolvConf, 'nameserver 10.96.0.10\nsearch svc.cluster.local\n');
    }
    const stdin = { cniVersion: list.cniVersion, name: list.name, ...plugin, ipam };
    const r = runCni({ command: 'ADD', containerID: `ex-${list.name}`, stdin });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const families = new Set(plugin.ipam.ranges ? plugin.ipam.ranges.map((s: Array<{ subnet: string }>) => (s[0]!.subnet.includes(':') ? 6 : 4)) : [4]);
    expect(r.json.ips).toHaveLength(families.size);
    for (const ip of r.json.ips) expect(ip.address).not.toBe(ip.gateway);
    if (ipam.exclude) for (const ip of r.json.ips) expect(ip.address.split('/')[0]).not.toBe('10.247.0.53');
    if (ipam.resolvConf) expect(r.json.dns.nameservers).toEqual(['10.96.0.10']);
    const d = runCni({ command: 'DEL', containerID: `ex-${list.name}`, stdin });
    expect(d.code, d.stdout).toBe(0);
    if (ipam.sticky) {
      // A StatefulSet pod recreated with a new sandbox gets its address back; its annotation names one.
      const pod = (id: string) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=db;K8S_POD_NAME=pg-0;K8S_POD_INFRA_CONTAINER_ID=${id}`;
      const first = runCni({ command: 'ADD', containerID: `ex-${list.name}-a`, stdin, args: pod(`ex-${list.name}-a`) });
      expect(runCni({ command: 'DEL', containerID: `ex-${list.name}-a`, stdin, args: pod(`ex-${list.name}-a`) }).code).toBe(0);
      const again = runCni({ command: 'ADD', containerID: `ex-${list.name}-b`, stdin, args: pod(`ex-${list.name}-b`) });
      expect(again.json.ips, again.stdout).toEqual(first.json.ips);
      expect(runCni({ command: 'DEL', containerID: `ex-${list.name}-b`, stdin }).code).toBe(0);
      const wanted = first.json.ips[0].address.replace(/\.\d+\//, '.200/');
      const annotated = { ...stdin, runtimeConfig: { 'io.kubernetes.cri.pod-annotations': { 'leasehold.io/ips': wanted.split('/')[0] } } };
      const r3 = runCni({ command: 'ADD', containerID: `ex-${list.name}-c`, stdin: annotated, args: pod(`ex-${list.name}-c`) });
      expect(r3.json.ips[0].address, r3.stdout).toBe(wanted);
      expect(runCni({ command: 'DEL', containerID: `ex-${list.name}-c`, stdin: annotated }).code).toBe(0);
    }
  });
});
