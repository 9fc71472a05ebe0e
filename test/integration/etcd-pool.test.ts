// Cluster mode's key layout and transactions (src/store/etcd) against a real 3-member etcd cluster: concurrent
// claims from several simulated nodes on a range sized exactly to them, lost replies, repeated ADDs, guarded
// and late releases, overlapping networks in one pool, and the CNI errors etcd trouble becomes.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { allocate } from '../../src/allocator/allocate';
import { type CniError, Code } from '../../src/base/errors';
import { parseEndpoint } from '../../src/config/cluster';
import { buildRange } from '../../src/config/ranges';
import { EtcdClient } from '../../src/etcd/client';
import { EtcdRequestError, EtcdUnavailableError } from '../../src/etcd/errors';
import { prefixEnd } from '../../src/etcd/keys';
import { type Ip, formatIp, parseIp } from '../../src/net/ip';
import { SpanSet } from '../../src/net/spans';
import { EtcdStore } from '../../src/store/etcd/etcd-store';
import type { Lease } from '../../src/store/lease';
import { ClusterLayout, decodeHolder, encodeHolder } from '../../src/store/etcd/layout';
import { EtcdPool, cniErrorOf } from '../../src/store/etcd/pool';
import { type StoredLease, orphanRemovalTxn } from '../../src/store/etcd/txns';
import { EtcdCluster, clientConfig, etcdMissing } from '../helpers/etcd-cluster';
import { tempDataDir } from '../helpers/leasehold';

const missing = etcdMissing();
const why = missing ? ` (skipped: ${missing})` : '';

let run = 0;
const names = (o: { network?: string; node?: string; pool?: string } = {}) => ({
  prefix: `/leasehold-test-${process.pid}-${run}`,
  pool: o.pool ?? 'lan',
  network: o.network ?? 'net-a',
  node: o.node ?? 'node-1',
});

const lease = (containerID: string, addresses: string[], extra: Partial<Lease> = {}): Lease => ({
  format: 1,
  containerID,
  ifname: 'eth0',
  addresses,
  netns: `/var/run/netns/${containerID}`,
  createdAt: new Date().toISOString(),
  bootId: 'boot-1',
  ...extra,
});

describe('cluster key layout', () => {
  const l = new ClusterLayout({ prefix: '/leasehold', pool: 'lan50', network: 'macvlan-50', node: 'worker-3' });

  it('names every key under the prefix; address keys are fixed-width hex in address order', () => {
    expect(l.addressKey(parseIp('192.168.50.100'))).toBe('/leasehold/pools/lan50/addresses/v4/c0a83264');
    expect(l.addressKey(parseIp('10.0.0.1'))).toBe('/leasehold/pools/lan50/addresses/v4/0a000001');
    expect(l.addressKey(parseIp('fd00::1'))).toBe('/leasehold/pools/lan50/addresses/v6/fd000000000000000000000000000001');
    expect(l.leaseKey({ containerID: 'abc', ifname: 'net1@x' })).toBe('/leasehold/networks/macvlan-50/leases/abc/net1%40x');
    expect(l.nodeIndexKey({ containerID: 'abc', ifname: 'eth0' })).toBe('/leasehold/nodes/worker-3/macvlan-50/abc/eth0');
    expect(l.stateKey()).toBe('/leasehold/networks/macvlan-50/state');
    const ips = ['10.0.0.9', '10.0.0.10', '9.255.255.255', '192.168.50.1', '10.0.1.0'];
    const byKey = [...ips].sort((a, b) => (l.addressKey(parseIp(a)) < l.addressKey(parseIp(b)) ? -1 : 1));
    expect(byKey).toEqual(['9.255.255.255', '10.0.0.9', '10.0.0.10', '10.0.1.0', '192.168.50.1']);
    for (const ip of [...ips, 'fd00::1', '::']) expect(formatIp(l.addressOf(l.addressKey(parseIp(ip)))!)).toBe(formatIp(parseIp(ip)));
    expect(l.addressOf('/leasehold/pools/lan50/addresses/v4/c0a8')).toBeUndefined();
    expect(l.addressOf('/leasehold/networks/macvlan-50/state')).toBeUndefined();
  });

  it('an address span ends after its last address, or where the family ends', () => {
    expect(l.addressSpan(4, 0xc0a83264n, 0xc0a832c7n)).toEqual({
      key: '/leasehold/pools/lan50/addresses/v4/c0a83264',
      rangeEnd: '/leasehold/pools/lan50/addresses/v4/c0a832c8',
    });
    const top = l.addressSpan(4, 0xfffffff0n, 0xffffffffn);
    expect(top.rangeEnd > l.addressKey({ family: 4, value: 0xffffffffn })).toBe(true);
    expect(top.rangeEnd < l.addressPrefix(6)).toBe(true);
  });

  it('refuses names that would break the key space', () => {
    expect(() => new ClusterLayout({ prefix: '/l', pool: 'a/b', network: 'n', node: 'x' })).toThrow(/pool/);
    expect(() => new ClusterLayout({ prefix: '/l', pool: 'p', network: 'n', node: '' })).toThrow(/nodeName/);
  });

  it('holder values are deterministic, so a guarded delete can compare them', () => {
    expect(encodeHolder({ containerID: 'c', ifname: 'eth0', network: 'n' })).toBe(encodeHolder({ network: 'n', ifname: 'eth0', containerID: 'c' }));
    expect(decodeHolder(encodeHolder({ containerID: 'c', ifname: 'eth0', network: 'n' }))).toEqual({ containerID: 'c', ifname: 'eth0', network: 'n' });
    expect(decodeHolder('not json')).toBeUndefined();
  });
});

describe('etcd failures as CNI errors', () => {
  it('unreachable is 11 naming the endpoints; credentials are 7; other refusals 5', () => {
    const down = new EtcdUnavailableError([{ endpoint: 'http://10.0.0.1:2379', reason: 'ECONNREFUSED', maybeApplied: false }], 3, 5000, true);
    expect(cniErrorOf(down, 'claiming 10.0.0.5')).toMatchObject({ code: Code.TryAgainLater, details: 'http://10.0.0.1:2379' });
    expect((cniErrorOf(down, 'claiming 10.0.0.5') as Error).message).toMatch(
      /^claiming 10.0.0.5: etcd unreachable .*Nothing was changed\. Check that etcd has a quorum and that this node reaches http:\/\/10.0.0.1:2379$/,
    );
    expect(cniErrorOf(new EtcdRequestError('http://e:2379', 403, 7, 'etcdserver: permission denied'), 'reading')).toMatchObject({ code: Code.InvalidConfig });
    expect(cniErrorOf(new EtcdRequestError('http://e:2379', 400, 3, 'etcdserver: duplicate key given in txn request'), 'claiming')).toMatchObject({
      code: Code.IoFailure,
    });
    const bug = new TypeError('x');
    expect(cniErrorOf(bug, 'claiming')).toBe(bug);
  });
});

describe.skipIf(missing)(`cluster transactions on a 3-member etcd cluster${why}`, () => {
  let cluster: EtcdCluster;
  const pool = (o: Parameters<typeof names>[0] = {}, timeoutMs = 5000): EtcdPool =>
    new EtcdPool(new EtcdClient(clientConfig({ endpoints: cluster.endpoints, timeoutMs }), { kind: 'node' }), new ClusterLayout(names(o)));
  /** A key written behind the pool's back, in a txn as cluster mode writes. */
  const put = (c: EtcdClient, key: string, value: string) => c.txn({ compare: [], success: [{ put: { key, value } }] });
  beforeAll(async () => {
    cluster = await EtcdCluster.start();
  });
  afterAll(async () => {
    await cluster?.close();
  });

  /**
   * What a node's ADD does here: its own record if it has one (a retried ADD after a lost reply), else the first
   * free address from a node-derived offset, claimed in one txn; a lost race tries again. Undefined when full.
   */
  async function claimFree(p: EtcdPool, n: number, id: string, first: bigint, last: bigint, stats: { lostRaces: number }): Promise<string | undefined> {
    const own = await p.readLease({ containerID: id, ifname: 'eth0' });
    if (typeof own === 'object') return own.lease.addresses[0];
    const size = Number(last - first + 1n);
    for (;;) {
      const { addresses } = await p.taken(4, first, last);
      const taken = new Set(addresses.map((a) => a.value));
      const start = (n * Math.ceil(size / 4) + Math.floor(Math.random() * 3)) % size;
      let pick: bigint | undefined;
      for (let k = 0; k < size && pick === undefined; k++) {
        const v = first + BigInt((start + k) % size);
        if (!taken.has(v)) pick = v;
      }
      if (pick === undefined) return undefined;
      const address = formatIp({ family: 4, value: pick });
      const out = await p.claim({ lease: lease(id, [address], { node: p.layout.names.node }) });
      if (out.status === 'claimed' || out.status === 'already-ours') return address;
      if (out.status === 'record-changed') {
        // An earlier attempt that answered "try again later" committed late (it waited on a stopped member):
        // the attachment's own record is there now, and it is the answer, as a runtime's retried ADD finds it.
        const late = await p.readLease({ containerID: id, ifname: 'eth0' });
        if (typeof late === 'object') return late.lease.addresses[0];
        continue;
      }
      expect(out.status).toBe('taken');
      stats.lostRaces++;
    }
  }

  /** Four simulated nodes (own client, own node name) and a range from `start` sized exactly to their attachments. */
  function burst(perNode: number, start: string, timeoutMs: number) {
    run++;
    const NODES = 4;
    const first = parseIp(start).value;
    const nodes = Array.from({ length: NODES }, (_, n) => pool({ node: `node-${n}` }, timeoutMs));
    return { NODES, PER_NODE: perNode, first, last: first + BigInt(NODES * perNode) - 1n, nodes, stats: { lostRaces: 0 } };
  }

  /** Every record's address key names it and was written with it; there are exactly `count` of each. */
  async function expectConsistent(p: EtcdPool, acked: Array<[string, string]>, count: number): Promise<void> {
    const c = p.client;
    const l = p.layout;
    const addrKeys = await c.range({ key: l.addressPrefix(4), rangeEnd: prefixEnd(l.addressPrefix(4)) });
    expect(addrKeys.kvs).toHaveLength(count);
    expect((await c.range({ key: l.leasesPrefix(), rangeEnd: prefixEnd(l.leasesPrefix()) })).count).toBe(BigInt(count));
    const { leases, unreadable } = await p.leases();
    expect(unreadable).toEqual([]);
    expect(leases.map((x) => [x.lease.containerID, x.lease.addresses[0]]).sort()).toEqual([...acked].sort());
    for (const [id, a] of acked) {
      const kv = addrKeys.kvs.find((k) => k.key === l.addressKey(parseIp(a)));
      expect(decodeHolder(kv!.value)).toEqual({ network: 'net-a', containerID: id, ifname: 'eth0' });
      const rec = await p.readLease({ containerID: id, ifname: 'eth0' });
      expect(typeof rec === 'object' && rec.lease.addresses).toEqual([a]);
      // Record and address key were written by one txn.
      expect(typeof rec === 'object' && rec.createRevision).toBe(kv!.createRevision);
    }
  }

  it('nodes claiming concurrently on a range sized exactly to them: every address once, records, keys and indexes agree, then full', async () => {
    const { NODES, PER_NODE, first, last, nodes, stats } = burst(10, '10.50.0.10', 5000);
    const claimOne = (p: EtcdPool, n: number, id: string) => claimFree(p, n, id, first, last, stats);
    const results = await Promise.all(
      nodes.map(async (p, n) => {
        const mine: Array<[string, string]> = [];
        // Two attachments in flight per node at a time.
        for (let i = 0; i < PER_NODE; i += 2) {
          const got = await Promise.all([0, 1].map((j) => claimOne(p, n, `n${n}-c${i + j}`)));
          for (const [j, a] of got.entries()) mine.push([`n${n}-c${i + j}`, a!]);
        }
        return mine;
      }),
    );
    const all = results.flat();
    expect(all.every(([, a]) => a !== undefined)).toBe(true);
    expect(new Set(all.map(([, a]) => a)).size).toBe(NODES * PER_NODE);
    expect(await claimOne(nodes[0]!, 0, 'one-too-many')).toBeUndefined();

    // The three views agree: records and address keys (expectConsistent), and every node's index lists
    // exactly its attachments.
    await expectConsistent(nodes[0]!, all, NODES * PER_NODE);
    for (const [n, p] of nodes.entries()) {
      const listed = (await p.nodeAttachments()).map((x) => x.containerID).sort();
      expect(listed).toEqual(results[n]!.map(([id]) => id).sort());
    }
    console.log(`claims: ${NODES * PER_NODE} by ${NODES} nodes, ${stats.lostRaces} lost races retried`);
  });

  it('the leader killed mid-burst, a follower killed, the leader SIGSTOPped: every acknowledged claim present, none twice', async () => {
    const { NODES, PER_NODE, first, last, nodes, stats } = burst(20, '10.51.0.10', 3000);
    const acked: Array<[string, string]> = [];
    let errors = 0;
    let worstMs = 0;
    const faults: string[] = [];
    let stoppedAt = Number.POSITIVE_INFINITY;
    const waitAcked = async (n: number): Promise<void> => {
      while (acked.length < n) await new Promise((r) => setTimeout(r, 20));
    };
    const driver = (async () => {
      await waitAcked(6);
      const leader = await cluster.leader();
      await cluster.kill(leader);
      faults.push(`killed leader m${leader} at ${acked.length}`);
      await waitAcked(12);
      await cluster.restart(leader);
      faults.push(`restarted m${leader} at ${acked.length}`);
      const follower = [0, 1, 2].find((i) => i !== leader)!;
      await cluster.kill(follower);
      faults.push(`killed follower m${follower} at ${acked.length}`);
      await waitAcked(20);
      await cluster.restart(follower);
      faults.push(`restarted m${follower} at ${acked.length}`);
      const stopped = await cluster.leader();
      cluster.pause(stopped);
      faults.push(`stopped leader m${stopped} at ${acked.length}`);
      stoppedAt = acked.length;
      await new Promise((r) => setTimeout(r, 2000));
      cluster.resume(stopped);
      faults.push(`resumed m${stopped} at ${acked.length}`);
    })();
    await Promise.all(
      nodes.map(async (p, n) => {
        for (let i = 0; i < PER_NODE; i++) {
          const id = `n${n}-c${i}`;
          // A runtime retries an ADD that failed with "try again later"; the retry finds a committed claim.
          for (;;) {
            const t = performance.now();
            try {
              const a = await claimFree(p, n, id, first, last, stats);
              acked.push([id, a!]);
              break;
            } catch (e) {
              if ((e as { code?: number }).code !== Code.TryAgainLater) throw e;
              errors++;
            } finally {
              worstMs = Math.max(worstMs, performance.now() - t);
            }
          }
        }
      }),
    );
    await driver;
    await Promise.all([0, 1, 2].map((i) => cluster.waitHealthy(i)));
    // Every fault landed while claims were still being made.
    expect(stoppedAt, faults.join(', ')).toBeLessThan(NODES * PER_NODE);
    expect(acked.every(([, a]) => a !== undefined)).toBe(true);
    expect(new Set(acked.map(([, a]) => a)).size).toBe(NODES * PER_NODE);
    await expectConsistent(nodes[0]!, acked, NODES * PER_NODE);
    console.log(
      `faults: ${faults.join(', ')}; ${acked.length} claims, ${errors} code-11 answers retried, ${stats.lostRaces} lost races, worst claim ${Math.round(worstMs)} ms`,
    );
  });

  it('a claim whose answer was lost finds itself on retry; a stale repeated ADD is told the record changed', async () => {
    run++;
    const p = pool();
    const l1 = lease('lost-reply', ['10.60.0.1']);
    expect((await p.claim({ lease: l1 })).status).toBe('claimed');
    const again = await p.claim({ lease: l1 });
    expect(again.status).toBe('already-ours');
    const stored = (await p.readLease(l1)) as StoredLease;
    expect(again.status === 'already-ours' && again.stored.modRevision).toBe(stored.modRevision);

    // A repeated ADD for a second range set keeps its address and adds one, guarded by the record's revision.
    const l2 = { ...l1, addresses: ['10.60.0.1', 'fd60::1'] };
    const grown = await p.claim({ lease: l2, previous: stored });
    expect(grown.status).toBe('claimed');
    expect(grown.status === 'claimed' && grown.stored.createRevision).toBe(stored.createRevision);
    const stale = await p.claim({ lease: { ...l2, addresses: ['10.60.0.1', 'fd60::2'] }, previous: stored });
    expect(stale.status).toBe('record-changed');
    expect((await p.taken(6, 0n, (1n << 128n) - 1n)).addresses.map(formatIp)).toEqual(['fd60::1']);

    // Someone else's claim of a held address is refused, naming the holder.
    const other = await p.claim({ lease: lease('other', ['10.60.0.1']) });
    expect(other).toEqual({ status: 'taken', address: '10.60.0.1', holder: { network: 'net-a', containerID: 'lost-reply', ifname: 'eth0' } });
  });

  it('one snapshot read gives an ADD the record, the cursors and the held addresses of each range', async () => {
    run++;
    const p = pool();
    const span4 = { family: 4 as const, first: parseIp('10.65.0.0').value, last: parseIp('10.65.0.255').value };
    const span6 = { family: 6 as const, first: parseIp('fd65::').value, last: parseIp('fd65::ff').value };
    const empty = await p.snapshot({ containerID: 'snap', ifname: 'eth0' }, [span4, span6]);
    expect(empty).toMatchObject({
      record: undefined,
      state: undefined,
      taken: [
        { addresses: [], more: false },
        { addresses: [], more: false },
      ],
    });
    const l = lease('snap', ['10.65.0.7', 'fd65::9']);
    await p.claim({ lease: l, cursors: { '0': '10.65.0.7', '1': 'fd65::9' } });
    for (const a of ['10.65.0.1', '10.65.0.2', '10.66.0.1']) await p.claim({ lease: lease(`other-${a}`, [a]) });
    const snap = await p.snapshot(l, [span4, span6], 2);
    expect(typeof snap.record === 'object' && snap.record.lease).toEqual(l);
    expect(JSON.parse(snap.state!).cursors).toEqual({ '0': '10.65.0.7', '1': 'fd65::9' });
    expect(snap.taken.map((h) => [h.addresses.map(formatIp), h.more])).toEqual([
      [['10.65.0.1', '10.65.0.2'], true],
      [['fd65::9'], false],
    ]);
  });

  it('networks naming one pool never share an address, even with overlapping ranges', async () => {
    run++;
    const a = pool({ network: 'net-a' });
    const b = pool({ network: 'net-b' });
    expect((await a.claim({ lease: lease('ctr', ['10.70.0.5']) })).status).toBe('claimed');
    expect(await b.claim({ lease: lease('ctr', ['10.70.0.5']) })).toEqual({
      status: 'taken',
      address: '10.70.0.5',
      holder: { network: 'net-a', containerID: 'ctr', ifname: 'eth0' },
    });
    const otherPool = pool({ network: 'net-c', pool: 'other' });
    expect((await otherPool.claim({ lease: lease('ctr', ['10.70.0.5']) })).status).toBe('claimed');
  });

  it('release: a double DEL frees once; a late DEL frees neither a reused address nor a newer ADD of the same attachment', async () => {
    run++;
    const p = pool();
    const q = pool({ node: 'node-2' });
    const l1 = lease('ctr-1', ['10.80.0.1', 'fd80::1']);
    const c1 = await p.claim({ lease: l1 });
    const rev1 = c1.status === 'claimed' ? c1.stored.createRevision : -1n;
    const plan = { attachment: l1, createRevision: rev1, addresses: l1.addresses };
    expect(await p.release(plan)).toEqual({ status: 'released', freed: ['10.80.0.1', 'fd80::1'] });
    expect(await p.release(plan)).toEqual({ status: 'gone' });
    expect(await p.nodeAttachments()).toEqual([]);

    // The address goes to another node's container; the same container comes back with a new incarnation.
    expect((await q.claim({ lease: lease('ctr-2', ['10.80.0.1']) })).status).toBe('claimed');
    const c2 = await p.claim({ lease: lease('ctr-1', ['fd80::1']) });
    expect(c2.status).toBe('claimed');
    const late = await p.release(plan);
    expect(late.status).toBe('replaced');
    expect((await p.taken(4, 0n, 0xffffffffn)).addresses.map(formatIp)).toEqual(['10.80.0.1']);
    expect((await p.taken(6, 0n, (1n << 128n) - 1n)).addresses.map(formatIp)).toEqual(['fd80::1']);

    // Within one incarnation, an address key that names someone else is left alone.
    const rev2 = c2.status === 'claimed' ? c2.stored.createRevision : -1n;
    const stray = await p.release({ attachment: l1, createRevision: rev2, addresses: ['fd80::1', '10.80.0.1'] });
    expect(stray).toEqual({ status: 'released', freed: ['fd80::1'] });
    expect((await p.taken(4, 0n, 0xffffffffn)).addresses.map(formatIp)).toEqual(['10.80.0.1']);
  });

  it('a record that cannot be decoded is listed as unreadable, not dropped', async () => {
    run++;
    const p = pool();
    await p.claim({ lease: lease('fine', ['10.95.0.1']) });
    const broken = p.layout.leaseKey({ containerID: 'broken', ifname: 'eth0' });
    await put(p.client, broken, '{"format":99}');
    const { leases, unreadable } = await p.leases();
    expect(leases.map((x) => x.lease.containerID)).toEqual(['fine']);
    expect(unreadable).toEqual([{ key: broken, why: expect.stringMatching(/format 99/) }]);
    expect(await p.readLease({ containerID: 'broken', ifname: 'eth0' })).toMatch(/format 99/);
  });

  it('an orphan address key is removed only while no record owns it', async () => {
    run++;
    const p = pool();
    const c = p.client;
    const owned = lease('owned', ['10.90.0.1']);
    await p.claim({ lease: owned });
    const orphanHolder = { network: 'net-a', containerID: 'gone', ifname: 'eth0' };
    await put(c, p.layout.addressKey(parseIp('10.90.0.2')), encodeHolder(orphanHolder));
    expect((await c.txn(orphanRemovalTxn(p.layout, '10.90.0.1', p.layout.holder(owned)))).succeeded).toBe(false);
    expect((await c.txn(orphanRemovalTxn(p.layout, '10.90.0.2', orphanHolder))).succeeded).toBe(true);
    expect((await p.taken(4, 0n, 0xffffffffn)).addresses.map(formatIp)).toEqual(['10.90.0.1']);
  });

  it('etcd without quorum: a claim fails with code 11 within timeoutMs, naming the endpoints', async () => {
    run++;
    const p = pool({}, 1500);
    await cluster.loseQuorum(1);
    try {
      const t = performance.now();
      const e = await p.claim({ lease: lease('q', ['10.99.0.1']) }).catch((x) => x);
      const ms = performance.now() - t;
      expect(e).toMatchObject({ code: Code.TryAgainLater });
      for (const ep of cluster.endpoints) expect(e.message).toContain(ep);
      expect(e.message).toMatch(/may have been applied/);
      expect(ms).toBeLessThan(1500 + 750);
    } finally {
      await cluster.restoreQuorum();
    }
  });

  describe("the allocator's view of a pool: held keys a window at a time, in the allocator's search order", () => {
    // A /22: 1022 addresses, more than one ADD's first read takes whole.
    const range = buildRange({ subnet: '10.70.0.0/22' }, 'ranges[0][0]');
    const at = (n: number): Ip => ({ family: 4, value: range.start + BigInt(n) });
    let dataDir: ReturnType<typeof tempDataDir>;
    beforeAll(() => {
      dataDir = tempDataDir('lh-view-');
    });
    afterAll(() => dataDir.remove());

    /** A network whose pool holds the addresses at these offsets (claimed by another network, in bulk). */
    async function poolHolding(offsets: number[]): Promise<{ store: EtcdStore; network: string }> {
      run++;
      const n = names({ network: 'viewed' });
      const l = new ClusterLayout({ ...n, network: 'other' });
      const c = new EtcdClient(clientConfig({ endpoints: cluster.endpoints, timeoutMs: 5000 }), { kind: 'node' });
      for (let i = 0; i < offsets.length; i += 100) {
        const puts = offsets
          .slice(i, i + 100)
          .map((o) => ({ put: { key: l.addressKey(at(o)), value: encodeHolder(l.holder({ containerID: `o${o}`, ifname: 'eth0' })) } }));
        await c.txn({ compare: [], success: puts });
      }
      const store = new EtcdStore({
        cluster: {
          etcd: { endpoints: cluster.endpoints.map(parseEndpoint) },
          prefix: n.prefix,
          pool: n.pool,
          nodeName: n.node,
          timeoutMs: 5000,
          statusScope: 'node',
        },
        dataDir: dataDir.dir,
        sockets: { kind: 'node' },
      });
      return { store, network: n.network };
    }

    /** The allocator's answer through the store's view, and how many etcd requests the view made. */
    async function pick(offsets: number[], cursor: number | undefined, exclude = SpanSet.EMPTY): Promise<{ picked: string | number; requests: number }> {
      const { store, network } = await poolHolding(offsets);
      const s = await store.openForChange(network, { lockTimeoutMs: 1000, create: true });
      const ranges = vi.spyOn(EtcdClient.prototype, 'range');
      const txns = vi.spyOn(EtcdClient.prototype, 'txn');
      try {
        const request = { rangeSets: [[range]], exclude, cursors: [cursor === undefined ? undefined : at(cursor)], requested: [], alreadyLeased: [] };
        const view = await s.view(request);
        const requests = ranges.mock.calls.length + txns.mock.calls.length;
        try {
          return { picked: Number(allocate(request, view).picks[0]!.ip.value - range.start), requests };
        } catch (e) {
          return { picked: (e as CniError).code, requests };
        }
      } finally {
        ranges.mockRestore();
        txns.mockRestore();
        s.close();
      }
    }

    const upTo = (n: number, from = 0): number[] => Array.from({ length: n - from }, (_, i) => from + i);

    it('the first free address after 300 held ones, in 2 windows (64, then 256 keys)', async () => {
      expect(await pick(upTo(300), undefined)).toEqual({ picked: 300, requests: 2 });
    });

    it('from the cursor on (422 held after it: 3 windows), wrapping round to the range start', async () => {
      expect(await pick([...upTo(5), ...upTo(1022, 600)], 599)).toEqual({ picked: 5, requests: 4 });
    });

    it('a gap that is excluded or the gateway is not free: the search reads on', async () => {
      const offsets = upTo(100).filter((o) => o !== 50);
      const exclude = SpanSet.of([{ family: 4, first: at(50).value, last: at(50).value }]);
      expect((await pick(offsets, undefined, exclude)).picked).toBe(100);
      expect((await pick(offsets, undefined)).picked).toBe(50);
    });

    it('an excluded stretch is jumped, never read through: 300 stale keys inside it cost no request', async () => {
      const exclude = SpanSet.of([{ family: 4, first: at(0).value, last: at(599).value }]);
      expect(await pick(upTo(300), undefined, exclude)).toEqual({ picked: 600, requests: 1 });
    });

    it('a full range is read whole and is exhausted (code 100), never an address seen only partly', async () => {
      const full = await pick(upTo(1022), 10);
      expect(full.picked).toBe(Code.RangeExhausted);
      expect(full.requests).toBeLessThanOrEqual(5);
    });
  });
});
