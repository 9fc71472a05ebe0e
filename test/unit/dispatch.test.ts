// The dispatcher in-process: runPlugin with an injected environment, stdin and the in-memory store.
import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../src/base/errors';
import { type PluginDeps, runPlugin } from '../../src/plugin/dispatch';
import { MemoryStore } from '../../src/store/memory/memory-store';
import type { Store } from '../../src/store/store';

const conf = (extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'net1', ipam: { type: 'leasehold', ranges: [[{ subnet: '10.9.0.0/29' }]], ...ipam }, ...extra });

function harness(store: Store = new MemoryStore()) {
  const deps: PluginDeps = { storeFor: async () => store, stdinIsTerminal: () => false };
  const call = async (command: string, stdin: string, id = 'c1', more: Record<string, string> = {}) => {
    const env = { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${id}`, CNI_IFNAME: 'eth0', ...more };
    const r = await runPlugin(env, () => stdin, deps);
    return { ...r, json: r.stdout ? JSON.parse(r.stdout) : undefined };
  };
  return { store, call };
}

describe('dispatcher (in-process, memory store)', () => {
  it('VERSION answers in the asked-for version without reading a config', async () => {
    const { call } = harness();
    const r = await call('VERSION', '{"cniVersion":"0.4.0"}');
    expect(r.exitCode).toBe(0);
    expect(r.json.cniVersion).toBe('0.4.0');
    expect(r.json.supportedVersions).toContain('1.1.0');
  });

  it('ADD, repeated ADD, CHECK, DEL, CHECK again', async () => {
    const { call, store } = harness();
    const a = await call('ADD', conf());
    expect(a.exitCode).toBe(0);
    expect(a.json.ips).toEqual([{ address: '10.9.0.2/29', gateway: '10.9.0.1' }]);
    expect((await call('ADD', conf())).json.ips[0].address).toBe('10.9.0.2/29');
    expect((await call('ADD', conf(), 'c2')).json.ips[0].address).toBe('10.9.0.3/29');
    expect((await call('CHECK', conf())).exitCode).toBe(0);
    expect((await call('DEL', conf())).exitCode).toBe(0);
    const c = await call('CHECK', conf());
    expect(c.json.code).toBe(Code.ContainerUnknown);
    expect([...(store as MemoryStore).network('net1').claims.keys()]).toEqual(['10.9.0.3']);
  });

  it('a verb newer than the config version is refused with code 1, and accepted from the version that brought it', async () => {
    const { call } = harness();
    for (const [verb, since, before] of [
      ['CHECK', '0.4.0', '0.3.1'],
      ['GC', '1.1.0', '1.0.0'],
      ['STATUS', '1.1.0', '1.0.0'],
    ] as const) {
      const r = await call(verb, conf({ cniVersion: before }), verb === 'CHECK' ? 'c1' : '');
      expect(r.json.code, verb).toBe(Code.IncompatibleVersion);
      expect(r.json.msg).toBe(`${verb} needs cniVersion ${since} or later; the config says ${before}`);
      const ok = await call(verb, conf({ cniVersion: since }), verb === 'CHECK' ? 'c1' : '');
      expect(ok.json?.code, verb).not.toBe(Code.IncompatibleVersion);
    }
  });

  it('GC frees what the runtime does not list; STATUS reports a full range with code 50', async () => {
    const { call } = harness();
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect((await call('ADD', conf(), id)).exitCode).toBe(0);
    expect((await call('ADD', conf(), 'f')).json.code).toBe(Code.RangeExhausted);
    expect((await call('STATUS', conf(), '')).json.code).toBe(Code.PluginNotAvailable);
    const gc = await call('GC', conf({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }), '');
    expect(gc.exitCode).toBe(0);
    expect((await call('STATUS', conf(), '')).exitCode).toBe(0);
    expect((await call('CHECK', conf(), 'a')).exitCode).toBe(0);
    expect((await call('CHECK', conf(), 'b')).json.code).toBe(Code.ContainerUnknown);
  });

  it('a cursor that is not an address is ignored by every verb', async () => {
    const store = new MemoryStore();
    store.network('net1').state = { status: 'ok', value: { format: 1, network: 'net1', cursors: {} }, ignoredCursors: { '0': 'not-an-ip' } };
    const { call } = harness(store);
    expect((await call('STATUS', conf(), '')).exitCode).toBe(0);
    expect((await call('ADD', conf())).json.ips[0].address).toBe('10.9.0.2/29');
  });

  it('a store failure keeps its code; anything else is code 999 with the message', async () => {
    const failing = (err: Error): Store => {
      const s = new MemoryStore();
      s.openForChange = async () => {
        throw err;
      };
      return s;
    };
    const io = await harness(failing(new CniError(Code.IoFailure, 'writing /x failed (EROFS)', '/x'))).call('ADD', conf());
    expect(io.json).toMatchObject({ code: Code.IoFailure, msg: 'writing /x failed (EROFS)', details: '/x' });
    const bug = await harness(failing(new TypeError('boom'))).call('DEL', conf());
    expect(bug.json.code).toBe(Code.Internal);
    expect(bug.json.msg).toContain('boom');
  });

  it('ADD chooses again when another writer claims its pick first', async () => {
    const store = new MemoryStore();
    const open = store.openForChange.bind(store);
    let raced = 0;
    store.openForChange = async (n, o) => {
      const s = await open(n, o);
      const put = s.putLease.bind(s);
      s.putLease = async (lease, prev, cursors) => {
        // Another node takes exactly the address this ADD picked, twice in a row.
        if (raced++ < 2) store.network(n).claims.set(lease.addresses[0]!, { holder: { containerID: `other-${raced}`, ifname: 'eth0' }, mtimeMs: 0 });
        return put(lease, prev, cursors);
      };
      return s;
    };
    const r = await harness(store).call('ADD', conf());
    expect(r.exitCode, r.stdout).toBe(0);
    // Not one of the two addresses the other writers took, and recorded for this attachment.
    const stolen = [...store.network('net1').claims].filter(([, c]) => c.holder.containerID.startsWith('other-')).map(([a]) => `${a}/29`);
    expect(stolen).toHaveLength(2);
    expect(stolen).not.toContain(r.json.ips[0].address);
    expect(store.network('net1').claims.get(r.json.ips[0].address.split('/')[0])?.holder.containerID).toBe('c1');
    expect(raced).toBe(3);
  });

  it('bad input is refused before the store is touched', async () => {
    let opened = 0;
    const store = new MemoryStore();
    const open = store.openForChange.bind(store);
    store.openForChange = (n, o) => {
      opened++;
      return open(n, o);
    };
    const { call } = harness(store);
    expect((await call('ADD', '{')).json.code).toBe(Code.DecodeFailure);
    expect((await call('ADD', conf({}, { ranges: [[{ subnet: '10.9.0.1/29' }]] }))).json.code).toBe(Code.InvalidConfig);
    expect((await call('ADD', conf(), '../evil')).json.code).toBe(Code.InvalidEnv);
    expect(opened).toBe(0);
  });
});
