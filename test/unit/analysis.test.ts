// The CLI's judgement of a network (leasehold check / status), in-process over the memory store.
import { describe, expect, it } from 'vitest';
import { findings, nodeFindings } from '../../src/cli/findings';
import { judgeablePart } from '../../src/store/store';
import { summarize } from '../../src/cli/usage';
import type { Facts } from '../../src/cli/context';
import { snapshotOf } from '../../src/cli/snapshot';
import { loadNetConf } from '../../src/config/load';
import type { Lease } from '../../src/store/lease';
import { MemoryStore } from '../../src/store/memory/memory-store';

const BOOT_AT = 1_000_000;
const facts: Facts = { bootId: 'b1', bootTimeMs: BOOT_AT, netnsExists: (p) => p !== '/run/netns/gone', now: 5_000_000, silentAfterMs: 3_600_000 };
const lease = (id: string, address: string, extra: Partial<Lease> = {}): Lease => ({
  format: 1,
  containerID: id,
  ifname: 'eth0',
  addresses: [address],
  netns: `/run/netns/${id}`,
  createdAt: new Date(2_000_000).toISOString(),
  bootId: 'b1',
  ...extra,
});
const conf = loadNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', ipam: { type: 'leasehold', ranges: [[{ subnet: '10.1.0.0/24' }]] } }), { ips: [] });

function network(): MemoryStore {
  const store = new MemoryStore();
  const net = store.network('n');
  net.state = { status: 'ok', value: { format: 1, network: 'n', cursors: { '0': '10.1.0.9' } }, ignoredCursors: { '1': 'not-an-ip' } };
  const put = (l: Lease, holder = l) => {
    net.leases.set(`${l.containerID}\0${l.ifname}`, l);
    net.claims.set(l.addresses[0]!, { holder: { containerID: holder.containerID, ifname: holder.ifname }, mtimeMs: 2_000_000 });
  };
  put(lease('ok', '10.1.0.2'));
  put(lease('gone', '10.1.0.3', { netns: '/run/netns/gone' }));
  put(lease('far', '10.9.0.1'));
  net.leases.set('dup\0eth0', lease('dup', '10.1.0.2'));
  put(lease('nocl', '10.1.0.5'), lease('thief', '10.1.0.5'));
  net.claims.set('10.1.0.7', { holder: { containerID: 'old', ifname: 'eth0' }, mtimeMs: BOOT_AT - 1 });
  return store;
}

describe('CLI analysis', () => {
  it('check reports every kind of finding, and only the rule-freeable ones carry a leak', async () => {
    const snap = await snapshotOf(network().readUnlocked('n'));
    const f = findings(snap, facts, conf).map((x) => `${x.kind}:${x.addresses.join(',')}:${x.leak ? 'gc' : '-'}`);
    expect(f).toEqual([
      'cursor-ignored::-',
      'duplicate-address:10.1.0.2:-',
      'claim-missing:10.1.0.5:-',
      'outside-range:10.9.0.1:-',
      'netns-gone:10.1.0.3:gc',
      'orphan-claim:10.1.0.5:-',
      'orphan-claim:10.1.0.7:gc',
    ]);
  });

  it("status's capacity leaves out ipam.exclude, however large, and IPv4-mapped addresses", async () => {
    const wide = loadNetConf(
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'n',
        ipam: {
          type: 'leasehold',
          ranges: [[{ subnet: '10.0.0.0/8' }], [{ subnet: 'fd00::/64' }], [{ subnet: '::/80' }]],
          exclude: ['fd00::/96', '10.0.0.0/9'],
        },
      }),
      { ips: [] },
    );
    const s = summarize(await snapshotOf(new MemoryStore().readUnlocked('n')), facts, { file: 'x.conflist', conf: wide });
    expect(s.ranges.map((r) => r.size)).toEqual([(1n << 23n) - 1n, (1n << 64n) - (1n << 32n), (1n << 48n) - 2n - (1n << 32n)]);
  });

  it('status counts usage per range from the same snapshot', async () => {
    const s = summarize(await snapshotOf(network().readUnlocked('n')), facts, { file: 'x.conflist', conf });
    expect(s).toMatchObject({ leases: 5, netnsGone: 1, orphanClaims: 2, outsideRanges: 1, cursors: { '0': '10.1.0.9' } });
    expect(s.ranges[0]).toMatchObject({ size: 253n, leased: 4, lastHandedOut: '10.1.0.9', stale: 1 });
  });

  it('cluster mode: records and node indexes must agree; a node silent longer than --silent-after is reported', () => {
    const at = (ms: number): string => new Date(facts.now - ms).toISOString();
    const leases = [
      lease('a1', '10.1.0.2', { node: 'n1' }),
      lease('a2', '10.1.0.3', { node: 'n2' }),
      lease('a3', '10.1.0.4', { node: 'n3' }),
      lease('a4', '10.1.0.5', { node: 'n4' }),
    ];
    const snap = {
      network: 'n',
      node: 'n1',
      location: 'etcd:/x',
      state: { status: 'missing' as const },
      leases,
      unreadable: [],
      claims: [],
      holds: [],
      cooling: [],
      nodes: {
        index: [
          { node: 'n1', containerID: 'a1', ifname: 'eth0' },
          { node: 'n2', containerID: 'a2', ifname: 'eth0' },
          { node: 'n4', containerID: 'a4', ifname: 'eth0' },
          { node: 'n2', containerID: 'ghost', ifname: 'eth0' },
        ],
        seen: { n1: at(60_000), n2: at(2 * 3_600_000), n4: at(3_599_000) },
      },
    };
    const f = nodeFindings(snap, facts).map((x) => `${x.kind}:${x.containerID ?? ''}:${x.addresses.join(',')}`);
    expect(f).toEqual(['index-missing:a3:10.1.0.4', 'index-orphan:ghost:', 'node-silent::10.1.0.3', 'node-silent::10.1.0.4']);
    expect(nodeFindings(snap, facts)[3]!.detail).toMatch(/node n3 holds 1 lease\(s\) .* has never been seen .* leasehold release --node n3/);
    expect(nodeFindings(snap, { ...facts, silentAfterMs: 3 * 3_600_000 }).filter((x) => x.kind === 'node-silent')).toHaveLength(1);
    // An unreadable record may be the one an index entry names.
    expect(nodeFindings({ ...snap, unreadable: [{ path: 'etcd:/x', why: 'bad' }] }, facts).map((x) => x.kind)).not.toContain('index-orphan');
    expect(nodeFindings({ ...snap, nodes: undefined }, facts)).toEqual([]);
  });

  it("cluster mode: leases made under this node's name by another machine are reported, and judged by neither", () => {
    const snap = {
      network: 'n',
      node: 'n1',
      machine: 'a'.repeat(32),
      location: 'etcd:/x',
      state: { status: 'missing' as const },
      leases: [
        lease('mine', '10.1.0.2', { node: 'n1', machine: 'a'.repeat(32) }),
        lease('theirs', '10.1.0.3', { node: 'n1', machine: 'b'.repeat(32) }),
        lease('older', '10.1.0.4', { node: 'n1' }),
      ],
      unreadable: [],
      claims: [],
      holds: [],
      cooling: [],
      nodes: {
        index: ['mine', 'theirs', 'older'].map((containerID) => ({ node: 'n1', containerID, ifname: 'eth0' })),
        seen: { n1: new Date(facts.now).toISOString() },
      },
    };
    const clash = nodeFindings(snap, facts).filter((x) => x.kind === 'node-name-clash');
    expect(clash.map((x) => x.addresses)).toEqual([['10.1.0.3']]);
    expect(clash[0]!.detail).toMatch(/under this node's name n1 by another machine/);
    // Only this machine's own leases are this node's to judge: not the other machine's, nor one without a machine.
    expect(judgeablePart(snap).leases.map((l) => l.containerID)).toEqual(['mine']);
  });
});
