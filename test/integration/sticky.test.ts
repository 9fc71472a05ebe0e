// Pod-aware allocation on a node's disk, in-process through runPlugin with the environment and config a
// runtime sends: kubelet's CNI_ARGS (K8S_POD_*), and runtimeConfig with the pod's annotations as libcni
// injects it for a plugin that declares the capability io.kubernetes.cri.pod-annotations.
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Code } from '../../src/base/errors';
import { runPlugin } from '../../src/plugin/dispatch';
import { tempDataDir } from '../helpers/leasehold';

let data: ReturnType<typeof tempDataDir>;
beforeEach(() => {
  data = tempDataDir('lh-sticky-');
});
afterEach(() => {
  vi.useRealTimers();
  data.remove();
});

const T0 = new Date('2026-12-07T12:00:00.000Z');
const at = (seconds: number) => vi.setSystemTime(new Date(T0.getTime() + seconds * 1000));

/** The config bridge hands its IPAM plugin: the capability's runtimeConfig as libcni puts it there. */
const conf = (ipam: Record<string, unknown> = {}, annotations?: Record<string, string>, top: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '1.1.0',
    name: 'sts',
    type: 'bridge',
    ...(annotations && { runtimeConfig: { 'io.kubernetes.cri.pod-annotations': annotations } }),
    ...top,
    ipam: { type: 'leasehold', dataDir: data.dir, ranges: [[{ subnet: '10.70.0.0/29' }]], sticky: { holdSeconds: 300 }, ...ipam },
  });

/** kubelet's CNI_ARGS for a pod of namespace shop. */
const podArgs = (pod: string, id: string) =>
  `IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=${id};K8S_POD_UID=uid-${id}`;

async function call(command: string, id: string, pod: string | undefined, stdin: string, extraArgs = '') {
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: command === 'DEL' ? '' : `/var/run/netns/${id}`,
    CNI_IFNAME: command === 'STATUS' ? '' : 'eth0',
    CNI_ARGS: (pod ? podArgs(pod, id) : 'IgnoreUnknown=1') + extraArgs,
    CNI_PATH: '/opt/cni/bin',
  };
  if (command === 'STATUS') env.CNI_CONTAINERID = '';
  const r = await runPlugin(env, () => stdin);
  const json = r.stdout ? JSON.parse(r.stdout) : undefined;
  return { ...r, json, address: json?.ips?.[0]?.address?.split('/')[0] as string | undefined };
}
const add = (id: string, pod?: string, stdin = conf(), extra = '') => call('ADD', id, pod, stdin, extra);
const del = (id: string, pod?: string, stdin = conf()) => call('DEL', id, pod, stdin);
const netDir = () => join(data.dir, 'sts');
const holdFiles = () => (existsSync(join(netDir(), 'holds')) ? readdirSync(join(netDir(), 'holds')).filter((n) => !n.startsWith('.')) : []);
const claims = () =>
  readdirSync(netDir())
    .filter((n) => /^10\./.test(n))
    .sort();

describe('ipam.sticky on a node’s disk', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    at(0);
  });

  it('a recreated StatefulSet pod gets its address back with a new container id; other pods never get it meanwhile', async () => {
    expect((await add('c1', 'web-0')).address).toBe('10.70.0.2');
    expect((await add('c2', 'web-1')).address).toBe('10.70.0.3');
    expect((await del('c1', 'web-0')).exitCode).toBe(0);
    expect(holdFiles()).toEqual(['shop@web-0@eth0.json']);
    expect(claims()).toEqual(['10.70.0.3']);
    // Round-robin would come back to .2 after .4-.6; the hold keeps it from db-0 however many ADDs come.
    for (const [i, want] of ['10.70.0.4', '10.70.0.5', '10.70.0.6'].entries()) expect((await add(`d${i}`, `db-${i}`)).address).toBe(want);
    const full = await add('d9', 'db-9');
    expect(full.json.code).toBe(Code.RangeExhausted);
    expect(full.json.msg).toMatch(/1 of them is held for deleted pods \(ipam\.sticky\), the first until 2026-12-07T12:05:00\.000Z/);
    const st = await call('STATUS', '', undefined, conf());
    expect(st.json.code).toBe(Code.PluginNotAvailable);
    expect(st.json.msg).toMatch(/1 of them is held/);
    // The pod's name comes back (a new sandbox): the same address, and the hold is over.
    at(60);
    expect((await add('c9', 'web-0')).address).toBe('10.70.0.2');
    expect(holdFiles()).toEqual([]);
    // A repeated ADD of it takes no second address.
    expect((await add('c9', 'web-0')).address).toBe('10.70.0.2');
    expect(claims()).toEqual(['10.70.0.2', '10.70.0.3', '10.70.0.4', '10.70.0.5', '10.70.0.6']);
  });

  it('a repeated DEL does not extend the hold; once it ends, other pods get the address', async () => {
    await add('c1', 'web-0');
    await del('c1', 'web-0');
    const first = JSON.parse(readFileSync(join(netDir(), 'holds', 'shop@web-0@eth0.json'), 'utf8'));
    expect(first).toMatchObject({ namespace: 'shop', name: 'web-0', ifname: 'eth0', addresses: ['10.70.0.2'], until: '2026-12-07T12:05:00.000Z' });
    at(200);
    expect((await del('c1', 'web-0')).exitCode).toBe(0);
    const again = JSON.parse(readFileSync(join(netDir(), 'holds', 'shop@web-0@eth0.json'), 'utf8'));
    expect(again).toEqual(first);
    // Past its end the hold no longer keeps the address from anyone.
    at(301);
    for (const want of ['10.70.0.3', '10.70.0.4', '10.70.0.5', '10.70.0.6', '10.70.0.2']) expect((await add(`x${want}`, 'other')).address).toBe(want);
  });

  it.each([
    ['a slash and dots', '../../etc/passwd'],
    ['a leading dot', '.hidden'],
    ['percent signs and unicode', '%2F%00ü→'],
    ['300 characters', 'x'.repeat(300)],
  ])('a pod name with %s: the hold stays a file in holds/ and the pod gets its address back', async (_n, name) => {
    const args = (id: string) => `;K8S_POD_NAMESPACE=..;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${id}`;
    const first = await call('ADD', 'c1', undefined, conf(), args('c1'));
    expect(first.exitCode, first.stdout).toBe(0);
    expect((await call('DEL', 'c1', undefined, conf(), args('c1'))).exitCode).toBe(0);
    const files = holdFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[^/]+\.json$/);
    expect(files[0]!.startsWith('.')).toBe(false);
    expect(files[0]!.length).toBeLessThanOrEqual(205);
    expect(readdirSync(data.dir)).toEqual(['sts']);
    expect((await call('ADD', 'c2', undefined, conf(), args('c2'))).address).toBe(first.address);
  });

  it('attachments without K8S_POD_NAME are not sticky', async () => {
    await add('c1');
    await del('c1');
    expect(holdFiles()).toEqual([]);
  });

  it('a requested address held for another pod is refused, naming the pod', async () => {
    await add('c1', 'web-0');
    await del('c1', 'web-0');
    const r = await add('c2', 'web-1', conf({}, { 'leasehold.io/ips': '10.70.0.2' }));
    expect(r.json.code).toBe(Code.AddressUnavailable);
    expect(r.json.msg).toMatch(/10\.70\.0\.2 is held for pod shop\/web-0 until 2026-12-07T12:05:00\.000Z/);
    expect(claims()).toEqual([]);
  });
});

describe('ipam.reuseCooldownSeconds on a node’s disk', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    at(0);
  });
  const cooled = () => conf({ sticky: undefined, reuseCooldownSeconds: 120 });
  const plain = () => conf({ sticky: undefined });

  it('round-robin skips a cooling address while another is free; then takes the one whose cooldown ends first', async () => {
    for (const id of ['c2', 'c3', 'c4', 'c5', 'c6']) await add(id, undefined, cooled());
    await del('c3', undefined, cooled()); // 10.70.0.3 cools until 12:02
    expect(readlinkSync(join(netDir(), 'cooling', '10.70.0.3'))).toBe('2026-12-07T12:02:00.000Z');
    await del('c5', undefined, plain()); // 10.70.0.5 is freed with no cooldown
    // From the cursor (.6) round-robin wraps to .3 first; .3 is cooling, so .5.
    expect((await add('n1', undefined, cooled())).address).toBe('10.70.0.5');
    // Only the cooling .3 is left: ADD takes it rather than fail.
    expect((await add('n2', undefined, cooled())).address).toBe('10.70.0.3');
    expect(existsSync(join(netDir(), 'cooling', '10.70.0.3'))).toBe(false);
  });

  it('a repeated DEL does not extend a cooldown', async () => {
    await add('c1', undefined, cooled());
    await del('c1', undefined, cooled());
    at(100);
    await del('c1', undefined, cooled());
    expect(readlinkSync(join(netDir(), 'cooling', '10.70.0.2'))).toBe('2026-12-07T12:02:00.000Z');
  });
});

describe('holds/ and cooling/ replaced by symbolic links', () => {
  it('are never followed: DEL still frees, ADD still allocates, and nothing outside the data dir is read, written or removed', async () => {
    const both = () => conf({ reuseCooldownSeconds: 60 });
    expect((await add('c1', 'web-0', both())).address).toBe('10.70.0.2');
    expect((await add('c2', undefined, both())).address).toBe('10.70.0.3');
    const outside = join(data.dir, 'outside');
    mkdirSync(outside);
    // What a hold and a cooldown there would be named, planted outside to see that nothing touches them.
    writeFileSync(join(outside, 'shop@web-0@eth0.json'), 'not ours');
    writeFileSync(join(outside, '10.70.0.4'), 'not ours');
    for (const d of ['holds', 'cooling']) symlinkSync(outside, join(netDir(), d));
    expect((await del('c1', 'web-0', both())).exitCode).toBe(0);
    expect((await del('c2', undefined, both())).exitCode).toBe(0);
    expect(claims()).toEqual([]);
    const next = await add('c3', 'web-0', both());
    expect(next.exitCode, next.stdout).toBe(0);
    expect(readdirSync(outside).sort()).toEqual(['10.70.0.4', 'shop@web-0@eth0.json']);
    expect(readFileSync(join(outside, 'shop@web-0@eth0.json'), 'utf8')).toBe('not ours');
  });
});

describe('the pod annotation leasehold.io/ips', () => {
  const dual = (annotations: Record<string, string>, top: Record<string, unknown> = {}) =>
    conf({ sticky: undefined, ranges: [[{ subnet: '10.70.0.0/24' }], [{ subnet: 'fd70::/120' }]] }, annotations, top);

  it('the pod gets exactly the annotated addresses', async () => {
    const r = await add('c1', 'web-0', dual({ 'leasehold.io/ips': '10.70.0.77, fd70::77', other: 'x' }));
    expect(r.exitCode).toBe(0);
    expect(r.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.70.0.77/24', 'fd70::77/120']);
  });

  it('a family the annotation does not name is allocated as usual', async () => {
    const r = await add('c1', 'web-0', dual({ 'leasehold.io/ips': 'fd70::9' }));
    expect(r.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.70.0.2/24', 'fd70::9/120']);
  });

  it.each([
    ['an address outside every range', '10.99.0.1', Code.AddressUnavailable, /10\.99\.0\.1 is not in any configured range/],
    ['two IPv4 addresses', '10.70.0.5,10.70.0.6', Code.InvalidConfig, /names two IPv4 addresses, 10\.70\.0\.5 and 10\.70\.0\.6/],
    ['an address that is not one', '10.70.0.300', Code.InvalidConfig, /leasehold\.io\/ips: "10\.70\.0\.300" is not a valid IPv4 address/],
    ['the gateway', '10.70.0.1', Code.AddressUnavailable, /10\.70\.0\.1 is the gateway/],
  ])('%s: ADD fails naming it, and nothing is written', async (_n, value, code, re) => {
    const r = await add('c1', 'web-0', dual({ 'leasehold.io/ips': value }));
    expect(r.json.code).toBe(code);
    expect(r.json.msg).toMatch(re);
    expect(existsSync(join(netDir(), 'leases')) ? readdirSync(join(netDir(), 'leases')) : []).toEqual([]);
    // DEL never reads the annotation: it succeeds whatever it says.
    expect((await del('c1', 'web-0', dual({ 'leasehold.io/ips': value }))).exitCode).toBe(0);
  });

  it('with runtimeConfig.ips and CNI_ARGS IP=: all are requests, one address per range set', async () => {
    const same = await add('c1', 'web-0', dual({ 'leasehold.io/ips': '10.70.0.8' }, { args: { cni: { ips: ['10.70.0.8/24'] } } }));
    expect(same.address).toBe('10.70.0.8');
    const clash = await add('c2', 'web-1', dual({ 'leasehold.io/ips': '10.70.0.9' }), ';IP=10.70.0.10');
    expect(clash.json.code).toBe(Code.AddressUnavailable);
    expect(clash.json.msg).toMatch(/10\.70\.0\.10 and 10\.70\.0\.9 fall in the same range set/);
  });
});

describe('config', () => {
  it.each([
    [{ sticky: {} }, /ipam\.sticky\.holdSeconds is required/],
    [{ sticky: { holdSeconds: 0 } }, /ipam\.sticky\.holdSeconds must be at least 1/],
    [{ reuseCooldownSeconds: -1 }, /ipam\.reuseCooldownSeconds must be at least 0/],
    [{ reuseCooldownSeconds: 86_401 }, /ipam\.reuseCooldownSeconds must be at most 86400/],
  ])('%j is refused with code 7', async (ipam, re) => {
    const r = await add('c1', 'web-0', conf(ipam));
    expect(r.json.code).toBe(Code.InvalidConfig);
    expect(r.json.msg).toMatch(re);
  });
});
