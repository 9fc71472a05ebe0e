import { describe, expect, it } from 'vitest';
import { parseCniArgs } from '../../src/config/cni-args';
import { readEnv } from '../../src/plugin/env';
import { CniError } from '../../src/base/errors';
import { formatResult } from '../../src/plugin/result';
import { loadNetConf } from '../../src/config/load';
import { parseResolvConf } from '../../src/config/resolv';
import { formatIp } from '../../src/net/ip';

const conf = (ipam: Record<string, unknown>, top: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'net1', ipam: { type: 'leasehold', dataDir: '/tmp/x', ...ipam }, ...top });
const load = (ipam: Record<string, unknown>, top: Record<string, unknown> = {}, args = '') => loadNetConf(conf(ipam, top), parseCniArgs(args, true));
/** n range sets of `per` IPv4 /24s each, none overlapping. */
const v4Sets = (n: number, per: number) => Array.from({ length: n }, (_, i) => Array.from({ length: per }, (_, j) => ({ subnet: `10.${i}.${j}.0/24` })));
const codeOf = (f: () => unknown): number | string => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return e instanceof CniError ? e.code : `not a CniError: ${e}`;
  }
};

describe('config validation: rejected with code 7 and a precise message', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp, Record<string, unknown>?]> = [
    ['host bits set', { ranges: [[{ subnet: '10.0.0.5/24' }]] }, /host bits set; the network is 10\.0\.0\.0\/24/],
    ['IPv4 /31', { ranges: [[{ subnet: '10.0.0.0/31' }]] }, /too small/],
    ['IPv4 /32', { ranges: [[{ subnet: '10.0.0.0/32' }]] }, /too small/],
    ['IPv6 /127', { ranges: [[{ subnet: 'fd00::/127' }]] }, /too small/],
    ['IPv6 /128', { ranges: [[{ subnet: 'fd00::/128' }]] }, /too small/],
    ['mixed families in a set', { ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] }, /mixes IPv4 and IPv6/],
    ['overlapping ranges in a set', { ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }]] }, /overlaps/],
    ['overlapping range sets', { ranges: [[{ subnet: '10.0.0.0/16' }], [{ subnet: '10.0.3.0/24' }]] }, /ranges\[0\]\[0\] overlaps ipam\.ranges\[1\]\[0\]/],
    ['rangeStart after rangeEnd', { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.3' }]] }, /after rangeEnd/],
    ['gateway outside its subnet', { ranges: [[{ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }]] }, /gateway 10\.0\.1\.1 is outside subnet/],
    ['rangeStart outside subnet', { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.5.1' }]] }, /outside subnet/],
    ['rangeEnd the broadcast address', { ranges: [[{ subnet: '10.0.0.0/24', rangeEnd: '10.0.0.255' }]] }, /broadcast/],
    ['rangeStart the network address', { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.0' }]] }, /network address/],
    ['family mismatch in rangeStart', { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: 'fd00::1' }]] }, /is IPv6 but subnet/],
    ['not a CIDR', { ranges: [[{ subnet: '10.0.0.0' }]] }, /CIDR/],
    ['garbage subnet', { ranges: [[{ subnet: 'banana/24' }]] }, /not a valid IPv4/],
    ['IPv4-mapped IPv6', { ranges: [[{ subnet: '::ffff:10.0.0.0/120' }]] }, /IPv4-mapped/],
    ['no ranges at all', {}, /no ranges/],
    ['empty range set', { ranges: [[]] }, /is empty/],
    ['wrong type for ranges', { ranges: 'x' }, /ipam\.ranges must be array/],
    ['wrong type for subnet', { ranges: [[{ subnet: 24 }]] }, /ipam\.ranges\[0\]\[0\]\.subnet must be string/],
    ['relative dataDir', { ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: 'state' }, /must be an absolute path/],
    ['dataDir in /etc', { ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: '/etc' }, /ipam\.dataDir "\/etc" is in \/etc, .*such as \/var\/lib\/cni\/networks/],
    ['dataDir /', { ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: '/' }, /ipam\.dataDir "\/" is in \/,/],
    ['dataDir climbing into /usr', { ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: '/var/../usr/lib/x' }, /ipam\.dataDir .* is in \/usr,/],
    ['relative logFile', { ranges: [[{ subnet: '10.0.0.0/24' }]], logFile: 'ops.log' }, /ipam\.logFile "ops\.log" must be an absolute path/],
    ['logFile in /etc', { ranges: [[{ subnet: '10.0.0.0/24' }]], logFile: '/etc/cron.d/x.log' }, /ipam\.logFile .* is in \/etc,/],
    ['logFile in /proc', { ranges: [[{ subnet: '10.0.0.0/24' }]], logFile: '/proc/sysrq-trigger.log' }, /ipam\.logFile .* is in \/proc, the kernel's/],
    ['resolvConf in /proc', { ranges: [[{ subnet: '10.0.0.0/24' }]], resolvConf: '/proc/kmsg' }, /ipam\.resolvConf "\/proc\/kmsg" is in \/proc, the kernel's/],
    ['resolvConf in /dev', { ranges: [[{ subnet: '10.0.0.0/24' }]], resolvConf: '/dev/../dev/tty' }, /ipam\.resolvConf .* is in \/dev, the kernel's/],
    [
      'logFile not a .log',
      { ranges: [[{ subnet: '10.0.0.0/24' }]], logFile: '/var/spool/cron/crontabs/root' },
      /ipam\.logFile .* must end in \.log or \.jsonl/,
    ],
    ['logFile named only .log', { ranges: [[{ subnet: '10.0.0.0/24' }]], logFile: '/var/log/.log' }, /must end in \.log/],
    ['relative resolvConf', { ranges: [[{ subnet: '10.0.0.0/24' }]], resolvConf: 'resolv.conf' }, /ipam\.resolvConf "resolv\.conf" must be an absolute path/],
    ['bad exclude', { ranges: [[{ subnet: '10.0.0.0/24' }]], exclude: ['10.0.0.300'] }, /ipam\.exclude\[0\]/],
    ['bad route', { ranges: [[{ subnet: '10.0.0.0/24' }]], routes: [{ dst: 'default' }] }, /ipam\.routes\[0\]/],
    ['lock timeout out of bounds', { ranges: [[{ subnet: '10.0.0.0/24' }]], lockTimeoutMs: -5 }, /lockTimeoutMs must be at least 0/],
    ['more range sets than the limit', { ranges: v4Sets(17, 1) }, /17 range sets are configured; at most 16/],
    ['more ranges than the limit', { ranges: v4Sets(5, 13) }, /65 ranges are configured across the range sets; at most 64/],
    [
      'more ranges than the limit, runtime ipRanges counted',
      { ranges: v4Sets(1, 64) },
      /65 ranges/,
      { runtimeConfig: { ipRanges: [[{ subnet: '192.168.0.0/24' }]] } },
    ],
    [
      'more excludes than the limit',
      { ranges: [[{ subnet: '10.0.0.0/8' }]], exclude: Array(10_001).fill('10.0.0.5') },
      /ipam\.exclude has 10001 entries; at most 10000/,
    ],
  ];
  it.each(bad)('%s', (_n, ipam, re, top = {}) => {
    expect(codeOf(() => load(ipam, top))).toBe(7);
    expect(() => load(ipam, top)).toThrow(re);
  });

  it('configs at the limits are accepted, and one past each is refused', () => {
    expect(load({ ranges: v4Sets(16, 4), exclude: Array(10_000).fill('fd00::/96') }).rangeSets.flat()).toHaveLength(64);
    expect(load({ subnet: '10.0.0.0/24' }, { name: 'n'.repeat(255) }).name).toHaveLength(255);
    expect(() => load({ subnet: '10.0.0.0/24' }, { name: 'n'.repeat(256) })).toThrow(/256 characters long; at most 255/);
  });

  it('a requested address given many times is one request (no quadratic pass over them)', () => {
    const c = load({ ranges: [[{ subnet: '10.0.0.0/24' }]] }, { runtimeConfig: { ips: Array(50_000).fill('10.0.0.9/24') } });
    expect(c.requested.map(formatIp)).toEqual(['10.0.0.9']);
    const many = Array.from({ length: 17 }, (_, i) => `10.0.0.${i + 2}`);
    expect(() => load({ ranges: [[{ subnet: '10.0.0.0/24' }]] }, { runtimeConfig: { ips: many } })).toThrow(/17 addresses are requested .*; at most 16 may be/);
    expect(codeOf(() => load({ ranges: [[{ subnet: '10.0.0.0/24' }]] }, { runtimeConfig: { ips: many.slice(1) } }))).toBe('no error');
  });

  it('network name must match the CNI pattern', () => {
    expect(codeOf(() => load({ subnet: '10.0.0.0/24' }, { name: '../etc' }))).toBe(7);
    expect(codeOf(() => load({ subnet: '10.0.0.0/24' }, { name: '.hidden' }))).toBe(7);
  });
  it('missing ipam is code 7, not JSON is code 6, unknown version is code 1', () => {
    expect(codeOf(() => loadNetConf('{"cniVersion":"1.0.0","name":"n"}', { ips: [] }))).toBe(7);
    expect(codeOf(() => loadNetConf('{"name":', { ips: [] }))).toBe(6);
    expect(codeOf(() => loadNetConf('', { ips: [] }))).toBe(6);
    expect(codeOf(() => load({ subnet: '10.0.0.0/24' }, { cniVersion: '9.9.9' }))).toBe(1);
  });
  it('cniVersion before 0.3.0 allows one address per family', () => {
    expect(() => load({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/24' }]] }, { cniVersion: '0.2.0' })).toThrow(/one IPv4 address/);
  });
});

describe('config defaults and sources, as host-local', () => {
  it('fills rangeStart, rangeEnd and gateway from the subnet', () => {
    const r = load({ ranges: [[{ subnet: '10.0.0.0/24' }]] }).rangeSets[0]![0]!;
    expect([r.start, r.end, r.gateway].map((v) => formatIp({ family: 4, value: v }))).toEqual(['10.0.0.1', '10.0.0.254', '10.0.0.1']);
    const r6 = load({ ranges: [[{ subnet: 'fd00::/64' }]] }).rangeSets[0]![0]!;
    expect(formatIp({ family: 6, value: r6.end })).toBe('fd00::ffff:ffff:ffff:ffff');
  });
  it('a config without cniVersion is 0.1.0; dataDir defaults to /var/lib/cni/networks', () => {
    const c = loadNetConf(JSON.stringify({ name: 'n', ipam: { subnet: '10.0.0.0/24' } }), { ips: [] });
    expect(c.cniVersion).toBe('0.1.0');
    expect(c.dataDir).toBe('/var/lib/cni/networks');
  });
  it('orders range sets runtime ipRanges, legacy subnet, then ranges', () => {
    const c = load({ subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.2.0.0/24' }]] }, { runtimeConfig: { ipRanges: [[{ subnet: '10.0.0.0/24' }]] } });
    expect(c.rangeSets.map((s) => formatIp(s[0]!.subnet.ip))).toEqual(['10.0.0.0', '10.1.0.0', '10.2.0.0']);
  });
  it('collects requested addresses from runtimeConfig.ips and CNI_ARGS IP', () => {
    const c = load({ subnet: '10.0.0.0/24' }, { runtimeConfig: { ips: ['10.0.0.9/24'] } }, 'IP=10.0.0.10');
    expect(c.requested.map(formatIp)).toEqual(['10.0.0.9', '10.0.0.10']);
  });
  it('ignores CNI_ARGS IP when args.cni.ips is present (CONVENTIONS.md)', () => {
    const c = load({ subnet: '10.0.0.0/24' }, { args: { cni: { ips: ['10.0.0.20'] } } }, 'IP=10.0.0.10');
    expect(c.requested.map(formatIp)).toEqual(['10.0.0.20']);
  });
  it('reads valid attachments under either GC key', () => {
    const att = [{ containerID: 'a', ifname: 'eth0' }];
    expect(load({ subnet: '10.0.0.0/24' }, { 'cni.dev/valid-attachments': att }).validAttachments).toEqual(att);
    expect(load({ subnet: '10.0.0.0/24' }, { 'cni.dev/attachments': att }).validAttachments).toEqual(att);
  });
});

describe('CNI_ARGS and environment', () => {
  it('parses IP and Kubernetes pod keys with IgnoreUnknown', () => {
    const a = parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web;K8S_POD_UID=u;IP=10.0.0.3', true);
    expect(a).toEqual({ ips: ['10.0.0.3'], podNamespace: 'ns', podName: 'web', podUid: 'u' });
  });
  it('refuses unknown keys without IgnoreUnknown, but DEL (non-strict) accepts anything', () => {
    expect(() => parseCniArgs('FOO=1', true)).toThrow(/unknown keys FOO/);
    expect(parseCniArgs('garbage;FOO=1;K8S_POD_NAME=web;IP=10.0.0.3', false)).toEqual({ ips: ['10.0.0.3'], podName: 'web' });
  });
  const env = (over: Record<string, string>) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', ...over });
  const envBad: Array<[string, Record<string, string>, RegExp]> = [
    ['unknown command', { CNI_COMMAND: 'BOOM' }, /CNI_COMMAND/],
    ['missing container id', { CNI_CONTAINERID: '' }, /CNI_CONTAINERID is required/],
    ['container id with a slash', { CNI_CONTAINERID: '../x' }, /CNI_CONTAINERID/],
    ['missing netns on ADD', { CNI_NETNS: '' }, /CNI_NETNS is required/],
    ['ifname too long', { CNI_IFNAME: 'abcdefghijklmnop' }, /15 bytes/],
    ['ifname with a slash', { CNI_IFNAME: 'a/b' }, /may not contain/],
    ['ifname dot-dot', { CNI_IFNAME: '..' }, /may not be/],
    ['ifname with a space', { CNI_IFNAME: 'a b' }, /may not contain/],
  ];
  it.each(envBad)('code 4: %s', (_n, over, re) => {
    expect(() => readEnv(env(over))).toThrow(re);
    expect(codeOf(() => readEnv(env(over)))).toBe(4);
  });
  it('DEL needs no netns; GC and STATUS need no id, netns or ifname', () => {
    expect(readEnv(env({ CNI_COMMAND: 'DEL', CNI_NETNS: '' }))).toMatchObject({ command: 'DEL', containerID: 'c1', netns: '', ifname: 'eth0' });
    expect(readEnv({ CNI_COMMAND: 'GC' })).toMatchObject({ command: 'GC', containerID: '', netns: '', ifname: '' });
    expect(readEnv({ CNI_COMMAND: 'STATUS', CNI_CONTAINERID: '', CNI_IFNAME: '' })).toMatchObject({ command: 'STATUS', containerID: '', ifname: '' });
  });
});

describe('results per spec version and resolv.conf', () => {
  const res = {
    ips: [
      { family: 4 as const, address: '10.0.0.2/24', gateway: '10.0.0.1' },
      { family: 6 as const, address: 'fd00::2/64', gateway: 'fd00::1' },
    ],
    routes: [{ dst: '0.0.0.0/0', mtu: 1400 }, { dst: '::/0' }],
    dns: { nameservers: ['10.0.0.10'] },
  };
  it('1.1.0 keeps route attributes; 1.0.0 drops them and has no version field', () => {
    expect(formatResult('1.1.0', res).routes).toEqual([{ dst: '0.0.0.0/0', mtu: 1400 }, { dst: '::/0' }]);
    const r = formatResult('1.0.0', res);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
    expect(r.ips).toEqual([
      { address: '10.0.0.2/24', gateway: '10.0.0.1' },
      { address: 'fd00::2/64', gateway: 'fd00::1' },
    ]);
  });
  it('0.3.x and 0.4.0 carry the family in "version"', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0']) expect((formatResult(v, res).ips as Array<{ version: string }>).map((i) => i.version)).toEqual(['4', '6']);
  });
  it('0.1.0 and 0.2.0 use ip4/ip6 with their routes inside', () => {
    expect(formatResult('0.2.0', res)).toEqual({
      cniVersion: '0.2.0',
      ip4: { ip: '10.0.0.2/24', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      ip6: { ip: 'fd00::2/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] },
      dns: { nameservers: ['10.0.0.10'] },
    });
  });
  it('parses nameserver, domain, search and options, ignoring comments', () => {
    expect(parseResolvConf('# c\nnameserver 10.0.0.10\nnameserver fd00::10\ndomain cluster.local\nsearch a.b c.d\noptions ndots:5 edns0\n')).toEqual({
      nameservers: ['10.0.0.10', 'fd00::10'],
      domain: 'cluster.local',
      search: ['a.b', 'c.d'],
      options: ['ndots:5', 'edns0'],
    });
  });
});
