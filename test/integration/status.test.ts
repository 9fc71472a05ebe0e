// STATUS as kubelet's polling sees it (containerd >= 2.0.1 runs it every ~5 s; any error marks the node
// NotReady), in-process through runPlugin: on a node's disk every failure is this node's (code 50); in cluster
// mode only this node's own are by default, and ipam.cluster.statusScope "cluster" adds the cluster's.
// The real-etcd outage is in cluster.test.ts.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Code } from '../../src/base/errors';
import { defaultDeps, type PluginDeps, runPlugin } from '../../src/plugin/dispatch';
import { MemoryStore } from '../../src/store/memory/memory-store';
import { fillFs, isRoot, mountTmpfs, tempDataDir, umountQuiet } from '../helpers/leasehold';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  vi.restoreAllMocks();
});
const fresh = (): string => {
  const d = tempDataDir('lh-status-');
  cleanups.push(() => d.remove());
  return d.dir;
};

const conf = (ipam: Record<string, unknown>) =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'net1', ipam: { type: 'leasehold', ranges: [[{ subnet: '10.9.0.0/29' }]], ...ipam } });

async function call(command: string, stdin: string, deps: PluginDeps = defaultDeps, id = '') {
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: id ? `/run/netns/${id}` : '', CNI_IFNAME: id ? 'eth0' : '' };
  const t0 = Date.now();
  const r = await runPlugin(env, () => stdin, deps);
  return { ...r, ms: Date.now() - t0, json: r.stdout ? JSON.parse(r.stdout) : undefined };
}

/** Fills the /29's five addresses. */
async function fill(stdin: string, deps: PluginDeps = defaultDeps): Promise<void> {
  for (const id of ['a', 'b', 'c', 'd', 'e']) expect((await call('ADD', stdin, deps, id)).exitCode).toBe(0);
}

describe("STATUS on a node's disk: every failure is this node's, code 50", () => {
  it('ready on a network never used, and on one with a free address', async () => {
    const dir = fresh();
    expect((await call('STATUS', conf({ dataDir: dir }))).exitCode).toBe(0);
    expect((await call('ADD', conf({ dataDir: dir }), defaultDeps, 'a')).exitCode).toBe(0);
    expect((await call('STATUS', conf({ dataDir: dir }))).exitCode).toBe(0);
  });

  it('the range full', async () => {
    const dir = fresh();
    await fill(conf({ dataDir: dir }));
    const r = await call('STATUS', conf({ dataDir: dir }));
    expect(r.json).toMatchObject({ code: Code.PluginNotAvailable, msg: expect.stringMatching(/^no free address in range set 10\.9\.0\.0\/29/) });
  });

  it('the data dir is not a folder', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'file'), '');
    const r = await call('STATUS', conf({ dataDir: join(dir, 'file', 'networks') }));
    expect(r.json).toMatchObject({
      code: Code.PluginNotAvailable,
      msg: expect.stringMatching(/^cannot serve ADD: checking that ADD can write to .*file\/networks\/net1 failed \(ENOTDIR/),
    });
  });

  it("the network's state is unreadable", async () => {
    const dir = fresh();
    expect((await call('ADD', conf({ dataDir: dir }), defaultDeps, 'a')).exitCode).toBe(0);
    writeFileSync(join(dir, 'net1', 'leasehold.json'), '{ torn');
    const r = await call('STATUS', conf({ dataDir: dir }));
    expect(r.json).toMatchObject({ code: Code.PluginNotAvailable, msg: expect.stringContaining('leasehold.json') });
  });

  it.skipIf(!isRoot)('the data dir is on a full file system (root: a filled tmpfs); ready again once a page is free', async () => {
    const dir = fresh();
    const full = join(dir, 'full');
    mountTmpfs(full, 'size=256k');
    cleanups.push(() => umountQuiet(full));
    mkdirSync(join(full, 'networks'));
    const filler = fillFs(full);
    const r = await call('STATUS', conf({ dataDir: join(full, 'networks') }));
    expect(r.json).toMatchObject({
      code: Code.PluginNotAvailable,
      msg: expect.stringMatching(/checking that ADD can write to .*full\/networks\/net1 failed \(ENOSPC/),
    });
    rmSync(join(filler, readdirSync(filler)[0]!));
    expect((await call('STATUS', conf({ dataDir: join(full, 'networks') }))).exitCode).toBe(0);
  });

  it.skipIf(!isRoot)('the data dir is on a read-only file system (root: a read-only tmpfs)', async () => {
    const dir = fresh();
    const ro = join(dir, 'ro');
    mountTmpfs(ro, 'ro,size=1m');
    cleanups.push(() => umountQuiet(ro));
    const r = await call('STATUS', conf({ dataDir: join(ro, 'networks') }));
    expect(r.json).toMatchObject({
      code: Code.PluginNotAvailable,
      msg: expect.stringMatching(/checking that ADD can write to .*ro\/networks\/net1 failed \(EROFS/),
    });
  });
});

describe('STATUS in cluster mode: this node fails it; by default the cluster does not', () => {
  const cluster = (endpoints: string[], extra: Record<string, unknown> = {}) => ({ etcd: { endpoints }, nodeName: 'n1', timeoutMs: 10_000, ...extra });
  const stderr = () => vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

  /** A loopback port that accepts connections and never answers. */
  async function mute(): Promise<string> {
    const held: Socket[] = [];
    const server: Server = createServer((s) => held.push(s));
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    cleanups.push(() => {
      for (const s of held) s.destroy();
      server.close();
    });
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  /** A loopback port nothing listens on (connections refused at once). */
  async function refused(): Promise<string> {
    const server: Server = createServer();
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;
    await new Promise((res) => server.close(res));
    return `http://127.0.0.1:${port}`;
  }

  it('etcd unreachable: ready by default (and says why on stderr); code 50 with statusScope "cluster"', async () => {
    const dir = fresh();
    const endpoint = await refused();
    const err = stderr();
    const r = await call('STATUS', conf({ dataDir: dir, cluster: cluster([endpoint]) }));
    expect(r.exitCode).toBe(0);
    expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/STATUS is ready although .*127\.0\.0\.1.*a condition of the whole cluster/);
    const strict = await call('STATUS', conf({ dataDir: dir, cluster: cluster([endpoint], { statusScope: 'cluster' }) }));
    expect(strict.json).toMatchObject({ code: Code.PluginNotAvailable, msg: expect.stringMatching(/^cannot serve ADD: .*127\.0\.0\.1/) });
  });

  it('etcd accepting and never answering: STATUS answers within its own 2 s, not ipam.cluster.timeoutMs (10 s)', async () => {
    const dir = fresh();
    const endpoint = await mute();
    stderr();
    // STATUS reads without the lock: both scopes wait out the mute peer at once.
    const [r, strict] = await Promise.all([
      call('STATUS', conf({ dataDir: dir, cluster: cluster([endpoint]) })),
      call('STATUS', conf({ dataDir: dir, cluster: cluster([endpoint], { statusScope: 'cluster' }) })),
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.ms).toBeLessThan(4000);
    expect(strict.json).toMatchObject({ code: Code.PluginNotAvailable, msg: expect.stringMatching(/etcd unreachable after \d+ ms \(timeout \d+ ms\)/) });
    expect(strict.ms).toBeLessThan(4000);
  });

  it("this node's credentials missing or breaking their file rule: code 50 in either scope, naming the file", async () => {
    const dir = fresh();
    const endpoint = await refused();
    const open = join(dir, 'readable-by-all');
    writeFileSync(open, 'secret\n', { mode: 0o644 });
    for (const [file, why] of [
      [join(dir, 'missing'), /missing does not exist/],
      [open, /readable-by-all .*mode 0600 or 0400/],
    ] as const) {
      for (const statusScope of ['node', 'cluster']) {
        const c = cluster([endpoint], { statusScope, etcd: { endpoints: [endpoint], username: 'leasehold', passwordFile: file } });
        const r = await call('STATUS', conf({ dataDir: dir, cluster: c }));
        expect(r.json, `${file} ${statusScope}`).toMatchObject({
          code: Code.PluginNotAvailable,
          msg: expect.stringMatching(/^cannot serve ADD: ipam\.cluster\.etcd\.passwordFile /),
          details: 'ipam.cluster.etcd.passwordFile',
        });
        expect(r.json.msg).toMatch(why);
      }
    }
  });

  it('the shared pool full: ready by default; code 50 with statusScope "cluster" (memory store in place of etcd)', async () => {
    const store = new MemoryStore();
    const deps: PluginDeps = { storeFor: async () => store, stdinIsTerminal: () => false };
    const c = (extra: Record<string, unknown> = {}) => conf({ cluster: cluster(['http://127.0.0.1:2379'], { pool: 'shared', ...extra }) });
    await fill(c(), deps);
    const err = stderr();
    expect((await call('STATUS', c(), deps)).exitCode).toBe(0);
    expect(String(err.mock.calls.at(-1)?.[0])).toContain('no free address in range set 10.9.0.0/29 (10.9.0.1-10.9.0.6) of the shared pool shared;');
    expect((await call('STATUS', c({ statusScope: 'cluster' }), deps)).json).toMatchObject({ code: Code.PluginNotAvailable });
  });

  it('statusScope takes "node" or "cluster" only', async () => {
    const r = await call('STATUS', conf({ dataDir: fresh(), cluster: cluster(['http://127.0.0.1:2379'], { statusScope: 'all' }) }));
    expect(r.json).toMatchObject({ code: Code.InvalidConfig, msg: 'ipam.cluster.statusScope "all" must be "node" (the default) or "cluster"' });
  });
});

it('an unreadable etcd credential is code 7 naming the key for ADD too, not an internal error', async () => {
  const dir = fresh();
  mkdirSync(join(dir, 'd'));
  const c = { etcd: { endpoints: ['http://127.0.0.1:2379'], caFile: undefined, username: 'u', passwordFile: join(dir, 'missing') }, nodeName: 'n1' };
  const r = await call('ADD', conf({ dataDir: join(dir, 'd'), cluster: c }), defaultDeps, 'a');
  expect(r.json).toMatchObject({ code: Code.InvalidConfig, details: 'ipam.cluster.etcd.passwordFile' });
});
