// One contract for every Store: the in-memory fake the unit tests use, the node's disk, and etcd (a real
// one-member cluster). Each promise of src/store/store.ts is checked the same way on all three, so the fake
// cannot drift from what the plugin really runs on. Stores are built from a network config, as the plugin does.
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniError, Code } from '../../src/base/errors';
import type { Attachment } from '../../src/base/ids';
import { parseCniArgs } from '../../src/config/cni-args';
import { loadNetConf } from '../../src/config/load';
import { buildExcludes, buildRangeSets } from '../../src/config/ranges';
import { parseIp } from '../../src/net/ip';
import { defaultDeps } from '../../src/plugin/dispatch';
import { DiskStore } from '../../src/store/disk/disk-store';
import { ReleaseJournal } from '../../src/store/node/journal';
import { ClusterLayout, encodeHolder } from '../../src/store/etcd/layout';
import type { Lease } from '../../src/store/lease';
import { MemoryStore } from '../../src/store/memory/memory-store';
import { ClaimConflict, type NetworkSession, type Store } from '../../src/store/store';
import { EtcdCluster, etcdMissing } from '../helpers/etcd-cluster';
import { lockIsHeld, tempDataDir } from '../helpers/leasehold';

const NET = 'contract';

/** A backend under test: a fresh, empty store per test, and a way to plant a claim no record owns. */
interface Backend {
  name: string;
  skip?: string;
  fresh(): Promise<{
    store: Store;
    plantOrphan(address: string, holder: Attachment): Promise<void>;
    /** Everything the store keeps, as a string that changes with any write (etcd: its revision too). */
    fingerprint(): string;
  }>;
}

/** Every file and directory under dir with its mode, size, mtime and contents: any write changes it. */
function treeOf(dir: string): string {
  if (!existsSync(dir)) return '(none)';
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs} ${st.isFile() ? readFileSync(p, 'latin1') : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.join('\n');
}

const data = tempDataDir('lh-contract-');
let etcd: EtcdCluster | undefined;
let seq = 0;

const conf = (ipam: Record<string, unknown>) =>
  loadNetConf(
    JSON.stringify({ cniVersion: '1.1.0', name: NET, ipam: { type: 'leasehold', ranges: [[{ subnet: '10.70.0.0/24' }]], ...ipam } }),
    parseCniArgs('', true),
  );

const backends: Backend[] = [
  {
    name: 'memory',
    async fresh() {
      const store = new MemoryStore();
      return {
        store,
        async plantOrphan(address, holder) {
          store.network(NET).claims.set(address, { holder, mtimeMs: Date.now() });
        },
        fingerprint: () =>
          JSON.stringify([...store.nets].map(([n, net]) => [n, net.state, [...net.leases], [...net.claims], net.unreadable, net.legacyCursors])),
      };
    },
  },
  {
    name: 'disk',
    async fresh() {
      const dataDir = join(data.dir, `disk-${++seq}`);
      const store = await defaultDeps.storeFor(conf({ dataDir }));
      return {
        store,
        async plantOrphan(address, holder) {
          mkdirSync(join(dataDir, NET), { recursive: true });
          writeFileSync(join(dataDir, NET, address), `${holder.containerID}\r\n${holder.ifname}`);
        },
        fingerprint: () => treeOf(dataDir),
      };
    },
  },
  {
    name: 'etcd',
    skip: etcdMissing(),
    async fresh() {
      const prefix = `/contract-${process.pid}-${++seq}`;
      const dataDir = join(data.dir, `etcd-${seq}`);
      const c = conf({ dataDir, cluster: { etcd: { endpoints: etcd!.endpoints }, prefix, nodeName: 'node-a' } });
      const store = await defaultDeps.storeFor(c);
      return {
        store,
        async plantOrphan(address, holder) {
          const layout = new ClusterLayout({ prefix, pool: NET, network: NET, node: 'node-a' });
          etcd!.etcdctl(['put', layout.addressKey(parseIp(address)), encodeHolder(layout.holder(holder))]);
        },
        fingerprint: () => `${JSON.parse(etcd!.etcdctl(['get', '/', '-w', 'json'])).header.revision}\n${treeOf(dataDir)}`,
      };
    },
  },
];

beforeAll(async () => {
  if (!etcdMissing()) etcd = await EtcdCluster.start({ members: 1 });
}, 60_000);
afterAll(async () => {
  await etcd?.close();
  data.remove();
});

const lease = (containerID: string, addresses: string[], ifname = 'eth0'): Lease => ({
  format: 1,
  containerID,
  ifname,
  addresses,
  netns: `/var/run/netns/${containerID}`,
  createdAt: '2026-12-01T00:00:00.000Z',
  bootId: 'boot-1',
});

/** The node's data directory of a disk or cluster store (the cluster store keeps its lock and journal there). */
const nodeDir = (store: Store): string => (store instanceof DiskStore ? store.location : (store as unknown as { opts: { dataDir: string } }).opts.dataDir);

const holders = async (s: NetworkSession) =>
  Object.fromEntries((await s.listClaims()).map((c) => [c.address, c.holder ? `${c.holder.containerID}/${c.holder.ifname}` : '?']));

const open = (store: Store) => store.openForChange(NET, { lockTimeoutMs: 5000, create: true });

async function withOpen<T>(store: Store, f: (s: NetworkSession) => Promise<T>): Promise<T> {
  const s = await open(store);
  try {
    return await f(s);
  } finally {
    s.close();
  }
}

describe.each(backends)('Store contract: $name', (backend) => {
  const test = backend.skip ? it.skip : it;
  if (backend.skip) it(`skipped: ${backend.skip}`, () => {});

  test('putLease records the lease and claims every address for it, durably: a new session sees them', async () => {
    const { store } = await backend.fresh();
    const a = lease('a', ['10.70.0.2', 'fd70::2']);
    await withOpen(store, (s) => s.putLease(a, undefined, { '0': '10.70.0.2' }));
    await withOpen(store, async (s) => {
      expect(await s.getLease(a)).toMatchObject({ containerID: 'a', ifname: 'eth0', addresses: ['10.70.0.2', 'fd70::2'] });
      expect(await holders(s)).toEqual({ '10.70.0.2': 'a/eth0', 'fd70::2': 'a/eth0' });
      expect(await s.claimHolder('fd70::2')).toEqual({ containerID: 'a', ifname: 'eth0' });
      expect(await s.claimHolder('10.70.0.9')).toBeUndefined();
      const st = await s.state();
      expect(st.status === 'ok' && st.value.cursors).toEqual({ '0': '10.70.0.2' });
      expect((await s.listLeases()).leases.map((l) => l.containerID)).toEqual(['a']);
    });
    expect(await store.has(NET)).toBe(true);
    expect(await store.networks()).toContain(NET);
  });

  test('putLease is all or nothing: an address held by another attachment is a ClaimConflict (101) and nothing changes', async () => {
    const { store } = await backend.fresh();
    await withOpen(store, async (s) => {
      await s.putLease(lease('other', ['10.70.0.3']), undefined, {});
      const err = await s.putLease(lease('b', ['10.70.0.2', '10.70.0.3']), undefined, {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClaimConflict);
      expect((err as ClaimConflict).code).toBe(Code.AddressUnavailable);
      expect((err as ClaimConflict).address).toBe('10.70.0.3');
      expect(await s.getLease({ containerID: 'b', ifname: 'eth0' })).toBeUndefined();
      expect(await holders(s)).toEqual({ '10.70.0.3': 'other/eth0' });
    });
  });

  test('putLease with the previous record grows a lease; a grow that fails keeps the previous record and its claims', async () => {
    const { store } = await backend.fresh();
    await withOpen(store, async (s) => {
      const one = lease('a', ['10.70.0.2']);
      await s.putLease(one, undefined, {});
      const prev = await s.getLease(one);
      const two = lease('a', ['10.70.0.2', 'fd70::2']);
      await s.putLease(two, prev, {});
      expect((await s.getLease(two))?.addresses).toEqual(['10.70.0.2', 'fd70::2']);

      await s.putLease(lease('other', ['fd70::3']), undefined, {});
      const grown = await s.getLease(two);
      const err = await s.putLease(lease('a', ['10.70.0.2', 'fd70::2', 'fd70::3']), grown, {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClaimConflict);
      expect((await s.getLease(two))?.addresses).toEqual(['10.70.0.2', 'fd70::2']);
      expect(await holders(s)).toEqual({ '10.70.0.2': 'a/eth0', 'fd70::2': 'a/eth0', 'fd70::3': 'other/eth0' });
    });
  });

  test('readForAdd gives the record, the state and the holds as read, and a view of what is taken; a later write leaves what it read as it was', async () => {
    const { store } = await backend.fresh();
    const rangeSets = buildRangeSets([[{ subnet: '10.70.0.0/29' }]], () => 'ipam.ranges');
    const request = { rangeSets, exclude: buildExcludes([]), cursors: [undefined], requested: [], alreadyLeased: [] };
    await withOpen(store, async (s) => {
      await s.putLease(lease('a', ['10.70.0.2']), undefined, { '0': '10.70.0.2' });
      const read = await s.readForAdd({ containerID: 'a', ifname: 'eth0' }, rangeSets);
      expect(read.previous?.addresses).toEqual(['10.70.0.2']);
      expect(read.state.status === 'ok' && read.state.value.cursors).toEqual({ '0': '10.70.0.2' });
      expect(read.reuse).toMatchObject({ holds: [], cooling: [] });
      const view = await read.view(request);
      expect(view.isTaken(parseIp('10.70.0.2'))).toBe(true);
      expect(view.isTaken(parseIp('10.70.0.3'))).toBe(false);

      await s.putLease(lease('b', ['10.70.0.3']), undefined, { '0': '10.70.0.3' });
      expect(read.state.status === 'ok' && read.state.value.cursors).toEqual({ '0': '10.70.0.2' });
      const next = await s.readForAdd({ containerID: 'b', ifname: 'eth0' }, rangeSets);
      expect(next.previous?.addresses).toEqual(['10.70.0.3']);
      expect(next.state.status === 'ok' && next.state.value.cursors).toEqual({ '0': '10.70.0.3' });
      expect((await next.view(request)).isTaken(parseIp('10.70.0.3'))).toBe(true);
      expect((await s.readForAdd({ containerID: 'c', ifname: 'eth0' }, rangeSets)).previous).toBeUndefined();
    });
  });

  test('deleteLease removes the record and frees only the claims still its own', async () => {
    const { store } = await backend.fresh();
    await withOpen(store, async (s) => {
      const a = lease('a', ['10.70.0.2']);
      await s.putLease(a, undefined, {});
      await s.putLease(lease('b', ['10.70.0.3']), undefined, {});
      // A record that (wrongly) also names b's address frees only its own.
      expect(await s.deleteLease({ ...a, addresses: ['10.70.0.2', '10.70.0.3'] })).toEqual(['10.70.0.2']);
      expect(await s.getLease(a)).toBeUndefined();
      expect(await holders(s)).toEqual({ '10.70.0.3': 'b/eth0' });
    });
  });

  test('release frees whatever the attachment holds; an unknown attachment, or a second release, frees nothing', async () => {
    const { store } = await backend.fresh();
    await withOpen(store, async (s) => {
      await s.putLease(lease('a', ['10.70.0.2', 'fd70::2']), undefined, {});
      await s.putLease(lease('a', ['10.70.0.5'], 'net1'), undefined, {});
      expect((await s.release({ containerID: 'a', ifname: 'eth0' })).sort()).toEqual(['10.70.0.2', 'fd70::2']);
      expect(await s.release({ containerID: 'a', ifname: 'eth0' })).toEqual([]);
      expect(await s.release({ containerID: 'nobody', ifname: 'eth0' })).toEqual([]);
      expect(await holders(s)).toEqual({ '10.70.0.5': 'a/net1' });
    });
  });

  test('removeClaim removes a claim no record owns, and leaves one whose holder has a record', async () => {
    const { store, plantOrphan } = await backend.fresh();
    await withOpen(store, (s) => s.putLease(lease('a', ['10.70.0.2']), undefined, {}));
    await plantOrphan('10.70.0.9', { containerID: 'gone', ifname: 'eth0' });
    await withOpen(store, async (s) => {
      expect(await holders(s)).toEqual({ '10.70.0.2': 'a/eth0', '10.70.0.9': 'gone/eth0' });
      await s.removeClaim('10.70.0.9');
      await s.removeClaim('10.70.0.2');
      await s.removeClaim('10.70.0.77');
      expect(await holders(s)).toEqual({ '10.70.0.2': 'a/eth0' });
    });
  });

  const sticky = { now: '2026-12-07T12:00:00.000Z', holdUntil: '2026-12-07T12:10:00.000Z' };
  const podLease = (containerID: string, addresses: string[]): Lease => ({ ...lease(containerID, addresses), podNamespace: 'shop', podName: 'web-0' });

  test('release with a hold policy frees the claims and leaves a hold for the pod; a repeated release changes nothing', async () => {
    const { store } = await backend.fresh();
    await withOpen(store, async (s) => {
      await s.putLease(podLease('a', ['10.70.0.2', 'fd70::2']), undefined, {});
      await s.putLease(lease('nameless', ['10.70.0.3']), undefined, {});
      expect((await s.release({ containerID: 'a', ifname: 'eth0' }, sticky)).sort()).toEqual(['10.70.0.2', 'fd70::2']);
      expect(await s.release({ containerID: 'a', ifname: 'eth0' }, { ...sticky, holdUntil: '2026-12-07T13:00:00.000Z' })).toEqual([]);
      // A lease that names no pod leaves no hold.
      await s.release({ containerID: 'nameless', ifname: 'eth0' }, sticky);
    });
    await withOpen(store, async (s) => {
      expect(await holders(s)).toEqual({});
      const { holds, cooling } = await s.reuse();
      expect(holds).toMatchObject([
        { namespace: 'shop', name: 'web-0', ifname: 'eth0', addresses: ['10.70.0.2', 'fd70::2'], until: sticky.holdUntil, containerID: 'a' },
      ]);
      expect(cooling).toEqual([]);
    });
  });

  test('putLease ending the pod’s hold takes its addresses over and ends it; endHold ends one and frees what it kept', async () => {
    const { store } = await backend.fresh();
    await withOpen(store, async (s) => {
      await s.putLease(podLease('a', ['10.70.0.2']), undefined, {});
      await s.putLease(podLease('x', ['10.70.0.4']), undefined, {});
      await s.release({ containerID: 'a', ifname: 'eth0' }, sticky);
    });
    await withOpen(store, async (s) => {
      const [hold] = (await s.reuse()).holds;
      await s.putLease(podLease('b', ['10.70.0.2']), undefined, {}, hold);
      expect(await holders(s)).toEqual({ '10.70.0.2': 'b/eth0', '10.70.0.4': 'x/eth0' });
      expect((await s.reuse()).holds).toEqual([]);
      await s.release({ containerID: 'x', ifname: 'eth0' }, sticky);
    });
    await withOpen(store, async (s) => {
      const [hold] = (await s.reuse()).holds;
      expect(await s.endHold(hold!)).toEqual(['10.70.0.4']);
      expect(await s.endHold(hold!)).toEqual([]);
      expect((await s.reuse()).holds).toEqual([]);
      // Its address is anyone's again (in etcd its key no longer names the hold).
      await s.putLease(lease('c', ['10.70.0.4']), undefined, {});
      expect(await holders(s)).toEqual({ '10.70.0.2': 'b/eth0', '10.70.0.4': 'c/eth0' });
    });
  });

  test('release with a cooldown lists the freed addresses as cooling; a claim or endCooling ends it', async () => {
    const { store } = await backend.fresh();
    const cool = { now: sticky.now, coolUntil: '2026-12-07T12:01:00.000Z' };
    await withOpen(store, async (s) => {
      await s.putLease(lease('a', ['10.70.0.2', 'fd70::2']), undefined, {});
      await s.release({ containerID: 'a', ifname: 'eth0' }, cool);
    });
    await withOpen(store, async (s) => {
      const cooling = (await s.reuse()).cooling.sort((x, y) => x.address.localeCompare(y.address));
      expect(cooling).toEqual([
        { address: '10.70.0.2', until: cool.coolUntil },
        { address: 'fd70::2', until: cool.coolUntil },
      ]);
      await s.putLease(lease('b', ['10.70.0.2']), undefined, {});
      expect((await s.reuse()).cooling).toEqual([{ address: 'fd70::2', until: cool.coolUntil }]);
      await s.endCooling(['fd70::2']);
      expect((await s.reuse()).cooling).toEqual([]);
    });
  });

  test('a reader opened without create on a network that does not exist is an error, and creates nothing', async () => {
    const { store } = await backend.fresh();
    const err = await store.openForChange('never-made', { lockTimeoutMs: 1000, create: false }).then(
      (s) => {
        s.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    // etcd has no place to be missing from: a network there exists once a key names it.
    if (backend.name !== 'etcd') expect(err).toBeInstanceOf(CniError);
    expect(await store.has('never-made')).toBe(false);
  });

  test('readLocked and readUnlocked are read-only at run time: no write method on what they return, and reading through them changes nothing', async () => {
    const { store, plantOrphan, fingerprint } = await backend.fresh();
    await withOpen(store, (s) => s.putLease(lease('a', ['10.70.0.2']), undefined, { '0': '10.70.0.2' }));
    await plantOrphan('10.70.0.9', { containerID: 'gone', ifname: 'eth0' });
    if (backend.name === 'etcd') {
      // A release DEL journaled while etcd was away: only a writer replays it.
      await withOpen(store, async () => {});
      ReleaseJournal.of(join(nodeDir(store), NET)).add({ network: NET, containerID: 'a', ifname: 'eth0', at: '2026-12-02T00:00:00.000Z' });
    }
    const before = fingerprint();
    const writes = ['putLease', 'deleteLease', 'release', 'endHold', 'endCooling', 'removeClaim', 'adopt'];
    const locked = await store.readLocked(NET, 5000);
    try {
      // Read-only, the lock still keeps every other process's writer out while the reader looks.
      if (backend.name !== 'memory') {
        expect(lockIsHeld(join(nodeDir(store), NET, 'lock'))).toBe(true);
      }
      for (const w of writes) expect(w in store.readUnlocked('never-made'), `${w} on a reader`).toBe(false);
      for (const reader of [locked, store.readUnlocked(NET)]) {
        for (const w of writes) expect(w in reader, `${w} on a reader`).toBe(false);
        await reader.state();
        await reader.getLease({ containerID: 'a', ifname: 'eth0' });
        await reader.listLeases();
        await reader.listClaims();
        await reader.claimHolder('10.70.0.2');
      }
    } finally {
      locked.close();
    }
    expect(fingerprint()).toBe(before);
    expect(await store.has('never-made')).toBe(false);
  });
});
