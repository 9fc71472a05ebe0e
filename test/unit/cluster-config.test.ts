// ipam.cluster: defaults, and code 7 naming the key for every mistake.
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../src/base/errors';
import { loadNetConf } from '../../src/config/load';

const load = (cluster: unknown, name = 'lan') =>
  loadNetConf(JSON.stringify({ cniVersion: '1.0.0', name, ipam: { type: 'leasehold', ranges: [[{ subnet: '192.168.50.0/24' }]], cluster } }), { ips: [] });

const refused = (cluster: unknown): string => {
  try {
    load(cluster);
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(Code.InvalidConfig);
    return (e as CniError).message;
  }
  throw new Error('accepted');
};

describe('cluster config', () => {
  it('absent: disk mode', () => {
    expect(loadNetConf(JSON.stringify({ name: 'n', ipam: { ranges: [[{ subnet: '10.0.0.0/24' }]] } }), { ips: [] }).cluster).toBeUndefined();
  });

  it('defaults: prefix /leasehold, pool = network name, node = the full host name, 5 s', () => {
    const c = load({ etcd: { endpoints: ['http://127.0.0.1:2379'] } })!.cluster!;
    expect(c).toMatchObject({ prefix: '/leasehold', pool: 'lan', timeoutMs: 5000, etcd: { endpoints: ['http://127.0.0.1:2379'] } });
    expect(c.nodeName).toBe(hostname());
  });

  it('accepts a unix socket forwarder before https members', () => {
    const c = load({ etcd: { endpoints: ['unix:///run/leasehold/etcd.sock', 'https://10.0.0.1:2379'], caFile: '/etc/ca.pem' } })!.cluster!;
    expect(c.etcd.endpoints[0]).toBe('unix:///run/leasehold/etcd.sock');
  });

  it('keeps the given names', () => {
    const c = load({
      etcd: { endpoints: ['https://10.0.0.1:2379'], caFile: '/etc/ca.pem' },
      prefix: '/x/y/',
      pool: 'lan50',
      nodeName: 'worker-3',
      timeoutMs: 800,
    })!.cluster!;
    expect(c).toMatchObject({ prefix: '/x/y', pool: 'lan50', nodeName: 'worker-3', timeoutMs: 800 });
  });

  it.each<[string, unknown, RegExp]>([
    ['no endpoints', { etcd: { endpoints: [] } }, /ipam\.cluster\.etcd\.endpoints/],
    ['not a URL', { etcd: { endpoints: ['10.0.0.1:2379'] } }, /ipam\.cluster\.etcd\.endpoints\[0\] .* is not a URL|must be http/],
    ['a path in the URL', { etcd: { endpoints: ['http://h:2379/v3'] } }, /endpoints\[0\].*scheme, host and port/],
    [
      'an inline password',
      { etcd: { endpoints: ['http://h:1'], username: 'u', password: 'p' } },
      /ipam\.cluster\.etcd\.password is not accepted.*passwordFile/,
    ],
    ['a user without password file', { etcd: { endpoints: ['http://h:1'], username: 'u' } }, /ipam\.cluster\.etcd\.passwordFile is required/],
    ['a cert without key', { etcd: { endpoints: ['https://h:1'], certFile: '/c' } }, /ipam\.cluster\.etcd\.keyFile is required/],
    ['TLS files with no https endpoint', { etcd: { endpoints: ['http://h:1'], caFile: '/ca' } }, /endpoints has no https:\/\/ endpoint/],
    ['a relative file', { etcd: { endpoints: ['https://h:1'], caFile: 'ca.pem' } }, /ipam\.cluster\.etcd\.caFile .* absolute/],
    ['a bad prefix', { etcd: { endpoints: ['http://h:1'] }, prefix: 'leasehold' }, /ipam\.cluster\.prefix/],
    ['a bad pool', { etcd: { endpoints: ['http://h:1'] }, pool: '../x' }, /ipam\.cluster\.pool/],
    ['a bad node name', { etcd: { endpoints: ['http://h:1'] }, nodeName: 'a b' }, /ipam\.cluster\.nodeName/],
    ['a timeout too small', { etcd: { endpoints: ['http://h:1'] }, timeoutMs: 5 }, /ipam\.cluster\.timeoutMs/],
  ])('%s → code 7 naming the key', (_what, cluster, msg) => {
    expect(refused(cluster)).toMatch(msg);
  });
});
