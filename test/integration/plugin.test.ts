// The plugin spoken to exactly as a runtime does, for every verb and spec version: in-process through runPlugin
// with the disk store, or the executable LEASEHOLD_BIN names.
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { BIN, type CniReply, cni, netConf, tempDataDir } from '../helpers/leasehold';
import { atLeast } from '../../src/base/versions';

let data: ReturnType<typeof tempDataDir>;
beforeEach(() => {
  data = tempDataDir();
});
afterEach(() => data.remove());

const netDir = () => join(data.dir, 'testnet');
const claims = () =>
  readdirSync(netDir())
    .filter((n) => /^[0-9a-f.:]+$/.test(n) && n.includes('.') !== n.includes(':'))
    .sort();
const add = (id: string, conf = netConf(data.dir), args = '') => cni({ command: 'ADD', containerID: id, stdin: conf, args });
const del = (id: string, conf = netConf(data.dir), args = '') => cni({ command: 'DEL', containerID: id, stdin: conf, args, netns: '' });
const expectError = (r: CniReply, code: number, re?: RegExp) => {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.json).toMatchObject({ code, msg: expect.any(String), cniVersion: expect.any(String) });
  expect(r.stdout).not.toMatch(/\n\s+at /);
  if (re) expect(r.json.msg).toMatch(re);
};

describe('VERSION', () => {
  it('needs no stdin and lists every version', async () => {
    const r = await cni({ command: 'VERSION' });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
  it('does not wait for input when stdin is a terminal', async () => {
    // script(1) gives the plugin a pseudo-terminal as stdin, as when an operator types the command; our end
    // of it stays open, so a plugin that reads stdin would wait until it is killed.
    const p = spawn('script', ['-qec', `CNI_COMMAND=VERSION ${BIN}`, '/dev/null'], { env: { PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), 5_000);
    const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => p.on('close', (c, sig) => res([c, sig])));
    clearTimeout(killer);
    expect(signal).toBeNull();
    expect(out).toContain('"supportedVersions"');
  });
  it('answers in the version asked on stdin', async () => {
    expect((await cni({ command: 'VERSION', stdin: { cniVersion: '0.4.0' } })).json.cniVersion).toBe('0.4.0');
  });
});

describe.each(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('cniVersion %s', (v) => {
  const conf = () =>
    netConf(data.dir, { ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/64' }]], routes: [{ dst: '0.0.0.0/0' }] }, { cniVersion: v });
  it('ADD returns the result shape of this version; DEL frees; CHECK, GC and STATUS follow the version rules', async () => {
    const r = await add('c1', conf());
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.cniVersion).toBe(v);
    if (!atLeast(v, '0.3.0')) {
      expect(r.json.ip4).toEqual({ ip: '10.88.0.2/24', gateway: '10.88.0.1', routes: [{ dst: '0.0.0.0/0' }] });
      expect(r.json.ip6).toEqual({ ip: 'fd88::2/64', gateway: 'fd88::1' });
    } else {
      const ips = [
        { address: '10.88.0.2/24', gateway: '10.88.0.1' },
        { address: 'fd88::2/64', gateway: 'fd88::1' },
      ];
      expect(r.json.ips).toEqual(v.startsWith('0.') ? ips.map((i, n) => ({ version: n === 0 ? '4' : '6', ...i })) : ips);
      expect(r.json.routes).toEqual([{ dst: '0.0.0.0/0' }]);
      expect(r.json.dns).toEqual({});
    }
    const check = await cni({ command: 'CHECK', containerID: 'c1', stdin: { ...conf(), prevResult: r.json } });
    if (atLeast(v, '0.4.0')) expect(check.code, check.stdout).toBe(0);
    else expectError(check, 1, /CHECK needs cniVersion 0.4.0/);
    const gc = await cni({ command: 'GC', stdin: { ...conf(), 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] } });
    const status = await cni({ command: 'STATUS', stdin: conf() });
    if (atLeast(v, '1.1.0')) {
      expect([gc.code, gc.stdout, status.code, status.stdout]).toEqual([0, '', 0, '']);
    } else {
      expectError(gc, 1, /GC needs cniVersion 1.1.0/);
      expectError(status, 1);
    }
    expect(claims()).toEqual(['10.88.0.2', 'fd88::2']);
    const d = await del('c1', conf());
    expect([d.code, d.stdout]).toEqual([0, '']);
    expect(claims()).toEqual([]);
  });
});

describe('ADD', () => {
  it('is idempotent per (container, ifname); another ifname is another attachment', async () => {
    const a = await add('c1');
    expect((await add('c1')).json).toEqual(a.json);
    const b = await cni({ command: 'ADD', containerID: 'c1', ifname: 'net1', stdin: netConf(data.dir) });
    expect(b.json.ips[0].address).toBe('10.88.0.3/24');
    expect(claims()).toEqual(['10.88.0.2', '10.88.0.3']);
  });
  it('a dual-stack lease writes its claims once: both names are links to one file, and DEL frees each', async () => {
    const dual = netConf(data.dir, { ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/64' }]] });
    expect((await add('c1', dual)).code).toBe(0);
    expect((await add('c2', dual)).code).toBe(0);
    const st = (a: string) => statSync(join(netDir(), a));
    expect([st('10.88.0.2').ino, st('10.88.0.2').nlink]).toEqual([st('fd88::2').ino, 2]);
    expect(readFileSync(join(netDir(), 'fd88::3'), 'utf8')).toBe('c2\r\neth0');
    expect(st('10.88.0.3').ino).not.toBe(st('10.88.0.2').ino);
    expect(readdirSync(netDir()).filter((n) => n.startsWith('.'))).toEqual([]);
    expect((await del('c1', dual)).code).toBe(0);
    expect(claims()).toEqual(['10.88.0.3', 'fd88::3']);
  });
  it('round-robin: an address freed by DEL is not handed out again at once', async () => {
    expect((await add('a')).json.ips[0].address).toBe('10.88.0.2/24');
    await del('a');
    expect((await add('b')).json.ips[0].address).toBe('10.88.0.3/24');
  });
  it('records pod, netns, time and boot id with the lease', async () => {
    await add('c1', netConf(data.dir), 'IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_UID=u1');
    const rec = JSON.parse(readFileSync(join(netDir(), 'leases', 'c1@eth0.json'), 'utf8'));
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    expect(rec).toMatchObject({
      format: 1,
      containerID: 'c1',
      ifname: 'eth0',
      addresses: ['10.88.0.2'],
      podNamespace: 'prod',
      podName: 'web-0',
      podUid: 'u1',
      netns: '/var/run/netns/c1',
      bootId,
    });
    expect(Date.now() - Date.parse(rec.createdAt)).toBeLessThan(60_000);
    expect(readFileSync(join(netDir(), '10.88.0.2'), 'utf8')).toBe('c1\r\neth0');
  });
  it('honours IP= from CNI_ARGS, runtimeConfig.ips and args.cni.ips', async () => {
    expect((await add('a', netConf(data.dir), 'IP=10.88.0.50')).json.ips[0].address).toBe('10.88.0.50/24');
    expect((await add('b', netConf(data.dir, {}, { runtimeConfig: { ips: ['10.88.0.60/24'] } }))).json.ips[0].address).toBe('10.88.0.60/24');
    expect((await add('c', netConf(data.dir, {}, { args: { cni: { ips: ['10.88.0.70'] } } }), 'IP=10.88.0.71')).json.ips[0].address).toBe('10.88.0.70/24');
  });
  it('a requested address held by another container is refused, naming the holder, and nothing changes', async () => {
    await add('a', netConf(data.dir), 'IP=10.88.0.50');
    const before = claims();
    expectError(await add('b', netConf(data.dir), 'IP=10.88.0.50'), 101, /held by container a/);
    expect(claims()).toEqual(before);
    expect(existsSync(join(netDir(), 'leases', 'b@eth0.json'))).toBe(false);
  });
  it("exhaustion is code 100 with host-local's words; a failing later range set leaves nothing behind", async () => {
    const tiny = netConf(data.dir, { ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: '10.99.0.0/30' }]] });
    expect((await add('a', tiny)).code).toBe(0);
    expectError(await add('b', tiny), 100, /no IP addresses available in range set 10\.99\.0\.0\/30/);
    expect(claims()).toEqual(['10.88.0.2', '10.99.0.2']);
    expect(readdirSync(join(netDir(), 'leases'))).toEqual(['a@eth0.json']);
  });
  it('reclaims leases from an earlier boot when the range is full (reclaimStaleBoot)', async () => {
    const tiny = netConf(data.dir, { ranges: [[{ subnet: '10.99.0.0/30' }]] });
    await add('old', tiny);
    const p = join(netDir(), 'leases', 'old@eth0.json');
    writeFileSync(p, readFileSync(p, 'utf8').replace(/"bootId":"[^"]+"/, '"bootId":"00000000-0000-0000-0000-000000000000"'));
    expectError(await add('new', netConf(data.dir, { ranges: [[{ subnet: '10.99.0.0/30' }]], reclaimStaleBoot: false })), 100);
    expect((await add('new', tiny)).json.ips[0].address).toBe('10.99.0.2/30');
    expect(existsSync(p)).toBe(false);
  });
  it('adopts host-local reservations: their addresses are taken and DEL frees them', async () => {
    mkdirSync(netDir(), { recursive: true });
    writeFileSync(join(netDir(), '10.88.0.2'), 'hl-1\r\neth0');
    writeFileSync(join(netDir(), '10.88.0.3'), 'hl-2\r\neth0');
    writeFileSync(join(netDir(), 'last_reserved_ip.0'), '10.88.0.3');
    expect((await add('new')).json.ips[0].address).toBe('10.88.0.4/24');
    expect((await del('hl-1')).code).toBe(0);
    expect(claims()).toEqual(['10.88.0.3', '10.88.0.4']);
  });
});

describe('DEL', () => {
  it('succeeds for an unknown attachment, twice, on an empty data dir, and with unknown CNI_ARGS', async () => {
    expect((await del('nobody')).code).toBe(0);
    expect((await del('nobody')).code).toBe(0);
    await add('c1');
    expect((await del('c1', netConf(data.dir), 'FOO=bar;not-a-pair')).code).toBe(0);
    expect(claims()).toEqual([]);
  });
  it('frees addresses whose range is no longer configured', async () => {
    await add('c1', netConf(data.dir, { ranges: [[{ subnet: '10.77.0.0/24' }]] }));
    expect((await del('c1')).code).toBe(0);
    expect(claims()).toEqual([]);
  });
});

describe('CHECK', () => {
  it('code 3 when the attachment holds no lease; 102 when prevResult disagrees with the lease', async () => {
    expectError(await cni({ command: 'CHECK', containerID: 'ghost', stdin: netConf(data.dir) }), 3, /holds no lease/);
    await add('c1');
    const wrong = { ...netConf(data.dir), prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.88.0.9/24' }] } };
    expectError(await cni({ command: 'CHECK', containerID: 'c1', stdin: wrong }), 102, /10\.88\.0\.9/);
    const foreign = { ...netConf(data.dir), prevResult: { cniVersion: '1.0.0', ips: [{ address: '192.0.2.9/24' }] } };
    expect((await cni({ command: 'CHECK', containerID: 'c1', stdin: foreign })).code).toBe(0);
  });
});

describe('GC and STATUS (1.1.0)', () => {
  const v11 = (ipam: Record<string, unknown> = {}) => netConf(data.dir, ipam, { cniVersion: '1.1.0' });
  it('GC frees every lease not listed as valid, and accepts the older cni.dev/attachments key', async () => {
    for (const id of ['a', 'b', 'c']) await add(id, v11());
    const r = await cni({ command: 'GC', stdin: { ...v11(), 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }] } });
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(claims()).toEqual(['10.88.0.3']);
    await cni({ command: 'GC', stdin: { ...v11(), 'cni.dev/attachments': [] } });
    expect(claims()).toEqual([]);
  });
  it('GC frees a claim no record owns unless the runtime lists its holder', async () => {
    await add('a', v11());
    writeFileSync(join(netDir(), '10.88.0.50'), 'live-hl\r\neth0');
    writeFileSync(join(netDir(), '10.88.0.51'), 'dead-hl\r\neth0');
    const valid = [
      { containerID: 'a', ifname: 'eth0' },
      { containerID: 'live-hl', ifname: 'eth0' },
    ];
    expect((await cni({ command: 'GC', stdin: { ...v11(), 'cni.dev/valid-attachments': valid } })).code).toBe(0);
    expect(claims()).toEqual(['10.88.0.2', '10.88.0.50']);
  });
  it('GC without a list of valid attachments is refused rather than freeing everything', async () => {
    await add('a', v11());
    expectError(await cni({ command: 'GC', stdin: v11() }), 7, /valid-attachments/);
    expect(claims()).toEqual(['10.88.0.2']);
  });
  it('STATUS is ready while an address is free, code 50 when a range set is full, and writes nothing', async () => {
    const tiny = v11({ ranges: [[{ subnet: '10.99.0.0/30' }]] });
    expect((await cni({ command: 'STATUS', stdin: tiny })).code).toBe(0);
    expect(existsSync(netDir())).toBe(false);
    await add('a', tiny);
    expectError(await cni({ command: 'STATUS', stdin: tiny }), 50, /no free address/);
  });
});

describe('errors', () => {
  it('bad env, bad JSON and bad config are CNI errors with the right codes and no state', async () => {
    expectError(await cni({ command: 'ADD', stdin: netConf(data.dir) }), 4, /CNI_CONTAINERID/);
    expectError(await cni({ command: 'ADD', containerID: 'x', stdin: '{nope' }), 6);
    expectError(await cni({ command: 'ADD', containerID: 'x', stdin: netConf(data.dir, { ranges: [[{ subnet: '10.0.0.1/24' }]] }) }), 7);
    expectError(await cni({ command: 'ADD', containerID: 'x', stdin: { ...netConf(data.dir), cniVersion: '2.0.0' } }), 1);
    expectError(await cni({ command: 'ADD', containerID: 'x', stdin: netConf(data.dir, { resolvConf: '/nonexistent/resolv.conf' }) }), 7, /resolvConf/);
    expect(readdirSync(data.dir)).toEqual([]);
  });
  it('a corrupt state file is never reset: code 5 naming the file', async () => {
    await add('a');
    writeFileSync(join(netDir(), 'leasehold.json'), '{"format":1,"cursors":');
    expectError(await add('b'), 5, /leasehold\.json/);
    expect(claims()).toEqual(['10.88.0.2']);
  });
  it('dns comes from resolvConf', async () => {
    const rc = join(data.dir, 'resolv.conf');
    writeFileSync(rc, 'nameserver 10.96.0.10\nsearch svc.cluster.local\noptions ndots:5\n');
    expect((await add('a', netConf(data.dir, { resolvConf: rc }))).json.dns).toEqual({
      nameservers: ['10.96.0.10'],
      search: ['svc.cluster.local'],
      options: ['ndots:5'],
    });
  });
});
