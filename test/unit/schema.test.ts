// The shape check of the network config (config/schema.ts): every key's type and bounds, with the exact
// message an operator gets. The messages are those the zod/mini schema gave before, recorded from it.
import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../src/base/errors';
import { isAttachmentList, validateNetConf } from '../../src/config/schema';

const ok = { name: 'n', ipam: { subnet: '10.0.0.0/24' } };
const withIpam = (ipam: Record<string, unknown>) => ({ name: 'n', ipam: { subnet: '10.0.0.0/24', ...ipam } });
const cluster = (c: Record<string, unknown>) => withIpam({ cluster: { etcd: { endpoints: ['http://h:1'] }, ...c } });

const message = (v: unknown): string => {
  try {
    validateNetConf(v);
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(Code.InvalidConfig);
    return (e as CniError).message.replace(/^invalid network config: /, '');
  }
  return 'accepted';
};

describe('validateNetConf: each wrong key named with its path', () => {
  it.each<[string, unknown, string]>([
    ['a number', 1, 'config must be object'],
    ['an array', [], 'config must be object'],
    ['null', null, 'config must be object'],
    ['nothing', {}, 'name is required (string); ipam is required (object)'],
    ['name not a string', { name: 5, ipam: {} }, 'name must be string'],
    ['cniVersion not a string, ipam an array', { cniVersion: 1, name: 'n', ipam: [] }, 'cniVersion must be string; ipam must be object'],
    ['ipam null', { name: 'n', ipam: null }, 'ipam must be object'],
    [
      'legacy keys',
      withIpam({ subnet: 1, rangeStart: 2, rangeEnd: 3, gateway: 4 }),
      'ipam.subnet must be string; ipam.rangeStart must be string; ipam.rangeEnd must be string; ipam.gateway must be string',
    ],
    ['ranges not an array', withIpam({ ranges: 'x' }), 'ipam.ranges must be array'],
    [
      'range sets and ranges of the wrong shape',
      withIpam({ ranges: [[{}], [5], {}] }),
      'ipam.ranges[0][0].subnet is required (string); ipam.ranges[1][0] must be object; ipam.ranges[2] must be array',
    ],
    ['a range key', withIpam({ ranges: [[{ subnet: '10.0.0.0/24', gateway: true }]] }), 'ipam.ranges[0][0].gateway must be string'],
    ['route dst and gw', withIpam({ routes: [{ dst: 1, gw: 2 }] }), 'ipam.routes[0].dst must be string; ipam.routes[0].gw must be string'],
    ['route missing dst', withIpam({ routes: [{}] }), 'ipam.routes[0].dst is required (string)'],
    ['route int not a number', withIpam({ routes: [{ dst: 'x', mtu: '1400' }] }), 'ipam.routes[0].mtu must be number'],
    ['route int not whole', withIpam({ routes: [{ dst: 'x', advmss: 1.5 }] }), 'ipam.routes[0].advmss must be int'],
    ['route mtu negative', withIpam({ routes: [{ dst: 'x', mtu: -1 }] }), 'ipam.routes[0].mtu must be at least 0'],
    ['route int null', withIpam({ routes: [{ dst: 'x', priority: null }] }), 'ipam.routes[0].priority must be number'],
    ['route int past the safe range', withIpam({ routes: [{ dst: 'x', table: 1e20 }] }), 'ipam.routes[0].table must be at most 9007199254740991'],
    ['route int below the safe range', withIpam({ routes: [{ dst: 'x', scope: -1e20 }] }), 'ipam.routes[0].scope must be at least -9007199254740991'],
    [
      'the other string keys',
      withIpam({ type: 2, dataDir: 1, resolvConf: 3, logFile: 4 }),
      'ipam.type must be string; ipam.dataDir must be string; ipam.resolvConf must be string; ipam.logFile must be string',
    ],
    ['exclude items', withIpam({ exclude: ['10.0.0.1', 1] }), 'ipam.exclude[1] must be string'],
    ['reclaimStaleBoot', withIpam({ reclaimStaleBoot: 'yes' }), 'ipam.reclaimStaleBoot must be boolean'],
    ['lockTimeoutMs below 0', withIpam({ lockTimeoutMs: -5 }), 'ipam.lockTimeoutMs must be at least 0'],
    ['lockTimeoutMs above 600000', withIpam({ lockTimeoutMs: 600_001 }), 'ipam.lockTimeoutMs must be at most 600000'],
    ['lockTimeoutMs not whole', withIpam({ lockTimeoutMs: 700_000.5 }), 'ipam.lockTimeoutMs must be int'],
    ['lockTimeoutMs a boolean', withIpam({ lockTimeoutMs: true }), 'ipam.lockTimeoutMs must be number'],
    [
      'lockTimeoutMs huge',
      withIpam({ lockTimeoutMs: 1e300 }),
      'ipam.lockTimeoutMs must be at most 9007199254740991; ipam.lockTimeoutMs must be at most 600000',
    ],
    ['logMaxBytes below 4096', withIpam({ logMaxBytes: 4095 }), 'ipam.logMaxBytes must be at least 4096'],
    ['logMaxBytes a string', withIpam({ logMaxBytes: 'x' }), 'ipam.logMaxBytes must be number'],
    ['cluster an array', withIpam({ cluster: [] }), 'ipam.cluster must be object'],
    ['cluster without etcd', withIpam({ cluster: {} }), 'ipam.cluster.etcd is required (object)'],
    ['etcd null', withIpam({ cluster: { etcd: null } }), 'ipam.cluster.etcd must be object'],
    ['no endpoints', cluster({ etcd: { endpoints: [] } }), 'ipam.cluster.etcd.endpoints must be at least 1'],
    ['endpoints not strings', cluster({ etcd: { endpoints: [1, 'http://h:1'] } }), 'ipam.cluster.etcd.endpoints[0] must be string'],
    [
      'etcd keys',
      cluster({ etcd: { endpoints: 'x', caFile: 1, certFile: 2, keyFile: 3, username: 4, passwordFile: 5 } }),
      // Five at most.
      'ipam.cluster.etcd.endpoints must be array; ipam.cluster.etcd.caFile must be string; ipam.cluster.etcd.certFile must be string; ipam.cluster.etcd.keyFile must be string; ipam.cluster.etcd.username must be string',
    ],
    [
      'cluster names',
      cluster({ prefix: 6, pool: 7, nodeName: 8 }),
      'ipam.cluster.prefix must be string; ipam.cluster.pool must be string; ipam.cluster.nodeName must be string',
    ],
    ['timeoutMs below 100', cluster({ timeoutMs: 99 }), 'ipam.cluster.timeoutMs must be at least 100'],
    ['timeoutMs above 600000', cluster({ timeoutMs: 600_001 }), 'ipam.cluster.timeoutMs must be at most 600000'],
    [
      'runtimeConfig',
      { ...ok, runtimeConfig: { ips: [1], ipRanges: [5, [null], [{ subnet: 1 }]] } },
      'runtimeConfig.ips[0] must be string; runtimeConfig.ipRanges[0] must be array; runtimeConfig.ipRanges[1][0] must be object; runtimeConfig.ipRanges[2][0].subnet must be string',
    ],
    [
      'top-level objects',
      { ...ok, runtimeConfig: null, args: [], prevResult: 'x' },
      'runtimeConfig must be object; args must be object; prevResult must be object',
    ],
    ['args.cni', { ...ok, args: { cni: null } }, 'args.cni must be object'],
    ['args.cni.ips', { ...ok, args: { cni: { ips: 'x' } } }, 'args.cni.ips must be array'],
    [
      'prevResult.ips',
      { ...ok, prevResult: { ips: [null, { address: 5 }, {}] } },
      'prevResult.ips[0] must be object; prevResult.ips[1].address must be string; prevResult.ips[2].address is required (string)',
    ],
    [
      'GC attachments under both keys',
      { ...ok, 'cni.dev/valid-attachments': [{}], 'cni.dev/attachments': 5 },
      'cni.dev/valid-attachments[0].containerID is required (string); cni.dev/valid-attachments[0].ifname is required (string); cni.dev/attachments must be array',
    ],
  ])('%s', (_what, v, msg) => {
    expect(message(v)).toBe(msg);
  });
});

describe('validateNetConf: what it accepts', () => {
  const full = {
    cniVersion: '1.1.0',
    name: 'n',
    extra: { anything: true },
    ipam: {
      type: 'leasehold',
      subnet: '10.9.0.0/24',
      ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.2', rangeEnd: '10.0.0.9', gateway: '10.0.0.1', note: 'kept' }]],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400, advmss: 1360, priority: -1, table: 100, scope: 0, vendor: 'x' }],
      exclude: [],
      lockTimeoutMs: 0,
      reclaimStaleBoot: false,
      logMaxBytes: 4096,
      cluster: { etcd: { endpoints: ['http://h:1'] }, timeoutMs: 600_000 },
      plugin: 'unknown keys are allowed',
    },
    runtimeConfig: { ips: [], ipRanges: [] },
    args: { cni: { ips: ['10.0.0.3'] }, other: 1 },
    prevResult: { ips: [{ address: '10.0.0.3/24', gateway: '10.0.0.1' }], routes: 'not checked' },
    'cni.dev/valid-attachments': [],
  };
  it('every key at its bounds, with unknown keys kept as they are', () => {
    const raw = validateNetConf(full);
    expect(raw).toBe(full);
    expect(raw).toEqual(structuredClone(full));
  });
  it('only name and ipam are required', () => {
    expect(message(ok)).toBe('accepted');
  });
});

describe('isAttachmentList', () => {
  it.each<[unknown, boolean]>([
    [[], true],
    [[{ containerID: 'a', ifname: 'eth0', extra: 1 }], true],
    [{}, false],
    [[{ containerID: 'a' }], false],
    [[{ containerID: 'a', ifname: 1 }], false],
    [[null], false],
    ['[]', false],
  ])('%j → %s', (v, want) => {
    expect(isAttachmentList(v)).toBe(want);
  });
});
