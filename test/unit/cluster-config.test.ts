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
    expect(c).toMatchObject({
      prefix: '/leasehold',
      pool: 'lan',
      timeoutMs: 5000,
      etcd: { endpoints: [{ url: 'http://127.0.0.1:2379', https: false, hostname: '127.0.0.1', port: 2379 }] },
    });
    expect(c.nodeName).toBe(hostname());
  });

  it('accepts a unix socket forwarder before https members', () => {
    const c = load({ etcd: { endpoints: ['unix:///run/leasehold/etcd.sock', 'https://10.0.0.1:2379'], caFile: '/etc/ca.pem' } })!.cluster!;
    expect(c.etcd.endpoints).toEqual([
      { url: 'unix:///run/leasehold/etcd.sock', https: false, socketPath: '/run/leasehold/etcd.sock' },
      { url: 'https://10.0.0.1:2379', https: true, hostname: '10.0.0.1', port: 2379 },
    ]);
  });

  it('parses each endpoint once, for the client to take as it is: default ports, IPv6 brackets dropped', () => {
    const c = load({ etcd: { endpoints: ['https://[fd00::1]', 'http://etcd-0.example:2379/', 'https://10.0.0.2:2379'], caFile: '/etc/ca.pem' } })!.cluster!;
    expect(c.etcd.endpoints.map((e) => ('hostname' in e ? [e.hostname, e.port, e.https] : e))).toEqual([
      ['fd00::1', 443, true],
      ['etcd-0.example', 2379, false],
      ['10.0.0.2', 2379, true],
    ]);
  });

  it('pairs the TLS and auth keys, once', () => {
    const c = load({
      etcd: { endpoints: ['https://10.0.0.1:2379'], caFile: '/ca', certFile: '/c', keyFile: '/k', username: 'u', passwordFile: '/p' },
    })!.cluster!;
    expect(c.etcd).toMatchObject({ caFile: '/ca', tls: { certFile: '/c', keyFile: '/k' }, auth: { username: 'u', passwordFile: '/p' } });
  });

  it('a password may go in the clear only to this node: loopback or a unix socket', () => {
    for (const ep of ['http://127.0.0.1:2379', 'http://[::1]:2379', 'http://localhost:2379', 'unix:///run/etcd.sock', 'https://10.0.0.1:2379']) {
      expect(load({ etcd: { endpoints: [ep], username: 'u', passwordFile: '/p' } })!.cluster!.etcd.auth).toEqual({ username: 'u', passwordFile: '/p' });
    }
    for (const ep of ['http://10.0.0.1:2379', 'http://etcd.example:2379', 'http://[fd00::1]:2379']) {
      expect(refused({ etcd: { endpoints: ['https://10.0.0.2:2379', ep], username: 'u', passwordFile: '/p' } })).toMatch(
        /^ipam\.cluster\.etcd\.endpoints\[1\] .* is plain http to another host.*use https:\/\//,
      );
    }
    // Without a password, plain http carries nothing secret.
    expect(load({ etcd: { endpoints: ['http://10.0.0.1:2379'] } })!.cluster).toBeDefined();
  });

  it('credentials in an endpoint are refused, and the message holds neither the user nor the password', () => {
    for (const ep of [
      'http://alice:hunter2@127.0.0.1:2379',
      'https://:hunter2@10.0.0.1',
      'http://alice@127.0.0.1:2379',
      'http://alice:hunter2@h:99999',
      'http://alice:hun/ter2@h:99999',
      'http://alice:hunter2@h@x:1/v3',
      `http://alice:hunter2@${'h'.repeat(300)}:1`,
    ]) {
      const msg = refused({ etcd: { endpoints: [ep] } });
      expect(msg).toMatch(/^ipam\.cluster\.etcd\.endpoints\[0\] /);
      expect(msg).not.toMatch(/hunter2|hun\/ter2/);
      expect(msg).not.toContain('alice');
    }
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
    ['a fragment in the URL', { etcd: { endpoints: ['http://h:2379#x'] } }, /endpoints\[0\].*scheme, host and port/],
    ['a query in the URL', { etcd: { endpoints: ['http://h:2379?x=1'] } }, /endpoints\[0\].*scheme, host and port/],
    ['another scheme', { etcd: { endpoints: ['ftp://h:2379'] } }, /endpoints\[0\].*must be http:\/\/, https:\/\/ or unix:\/\//],
    ['a relative unix socket', { etcd: { endpoints: ['unix://relative.sock'] } }, /endpoints\[0\].*unix:\/\/\/absolute\/path/],
    ['a password file without user', { etcd: { endpoints: ['http://h:1'], passwordFile: '/p' } }, /ipam\.cluster\.etcd\.username is required/],
    ['a key without cert', { etcd: { endpoints: ['https://h:1'], keyFile: '/k' } }, /ipam\.cluster\.etcd\.certFile is required/],
    [
      'an inline password',
      { etcd: { endpoints: ['http://h:1'], username: 'u', password: 'p' } },
      /ipam\.cluster\.etcd\.password is not accepted.*passwordFile/,
    ],
    ['a user without password file', { etcd: { endpoints: ['http://h:1'], username: 'u' } }, /ipam\.cluster\.etcd\.passwordFile is required/],
    ['a cert without key', { etcd: { endpoints: ['https://h:1'], certFile: '/c' } }, /ipam\.cluster\.etcd\.keyFile is required/],
    ['TLS files with no https endpoint', { etcd: { endpoints: ['http://h:1'], caFile: '/ca' } }, /endpoints has no https:\/\/ endpoint/],
    ['a relative file', { etcd: { endpoints: ['https://h:1'], caFile: 'ca.pem' } }, /ipam\.cluster\.etcd\.caFile .* absolute/],
    ['a relative password file', { etcd: { endpoints: ['https://h:1'], username: 'u', passwordFile: 'pw' } }, /ipam\.cluster\.etcd\.passwordFile .* absolute/],
    ['a bad prefix', { etcd: { endpoints: ['http://h:1'] }, prefix: 'leasehold' }, /ipam\.cluster\.prefix/],
    ['a bad pool', { etcd: { endpoints: ['http://h:1'] }, pool: '../x' }, /ipam\.cluster\.pool/],
    ['a bad node name', { etcd: { endpoints: ['http://h:1'] }, nodeName: 'a b' }, /ipam\.cluster\.nodeName/],
    ['a timeout too small', { etcd: { endpoints: ['http://h:1'] }, timeoutMs: 5 }, /ipam\.cluster\.timeoutMs/],
  ])('%s → code 7 naming the key', (_what, cluster, msg) => {
    expect(refused(cluster)).toMatch(msg);
  });
});
