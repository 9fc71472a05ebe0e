// Which sockets a call to etcd takes is chosen where the store is built, not by what the process happened to
// load first: the plugin's store goes through the single executable's addon (native/socket.c), loading it
// itself when no lock did (STATUS takes none), the CLI's through node:net even when the process has it. In
// process, the addon is the one npm run build made, handed over by base/native.ts's loader as the executable's
// loader would map it; the executable's own STATUS is traced (strace) to see which sockets it read.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NativeAddon } from '../../src/base/native';
import type { Configs } from '../../src/cli/cni-configs';
import { Stores } from '../../src/cli/stores';
import { loadNetConf } from '../../src/config/load';
import { defaultDeps, runPlugin } from '../../src/plugin/dispatch';
import { straceAvailable } from '../faults/crash-explorer';
import { HostilePeer } from '../helpers/hostile-peer';
import { ROOT, cliIn, cniEnv, isRoot, mountTmpfs, runCniAsync, umountQuiet, writeConflist } from '../helpers/leasehold';

const ADDON = join(ROOT, 'build', 'native.node');
if (!existsSync(ADDON)) throw new Error(`${ADDON} is missing: run npm run build first`);
const mod = { exports: {} as NativeAddon };
process.dlopen(mod, ADDON);
const connect = vi.fn(mod.exports.connect);

// The loader as the executable has it (once per process, from the first caller's directory), with the addon
// that npm run build made in place of the one embedded in the executable.
const native = vi.hoisted(() => ({ addon: null as NativeAddon | null, loaded: false, dirs: [] as string[] }));
vi.mock('../../src/base/native', async (original) => ({
  ...(await original<typeof import('../../src/base/native')>()),
  loadNative: (dir: string) => {
    native.dirs.push(dir);
    native.loaded = true;
    return native.addon;
  },
  loadedNative: () => (native.loaded ? native.addon : null),
}));
native.addon = { ...mod.exports, connect };

const NETWORK = 'socknet';
const ipamOf = (url: string, dataDir: string, cluster: Record<string, unknown> = {}) => ({
  type: 'leasehold',
  dataDir,
  ranges: [[{ subnet: '10.78.0.0/24' }]],
  cluster: { etcd: { endpoints: [url] }, nodeName: 'n1', ...cluster },
});
const stdinOf = (url: string, dataDir: string, cluster: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.1.0', name: NETWORK, ipam: ipamOf(url, dataDir, cluster) });

describe('the sockets a call to etcd takes, as the plugin and the CLI build their stores', () => {
  let peer: HostilePeer;
  let root: string;
  let dataDir: string;
  const conf = () => loadNetConf(stdinOf(peer.url, dataDir), { ips: [] });
  /** What the peer saw and the addon was asked for during `f`. */
  const observed = async (f: () => Promise<void>) => {
    connect.mockClear();
    const before = await peer.stats();
    await f();
    const after = await peer.stats();
    return {
      connections: after.connections - before.connections,
      requests: after.requests.length - before.requests.length,
      addonConnects: connect.mock.calls.length,
    };
  };
  beforeAll(async () => {
    peer = await HostilePeer.start(`(_req, s, answer) => s.write(answer(JSON.stringify({ header: { revision: '1' } })))`, 'tcp');
    root = mkdtempSync(join(tmpdir(), 'lh-sockets-'));
    dataDir = join(root, 'data');
    mkdirSync(dataDir);
  });
  afterAll(async () => {
    await peer?.close();
    rmSync(root, { recursive: true, force: true });
  });

  // First in this file: nothing has loaded the addon yet, as in a STATUS process of its own.
  it("the plugin's STATUS, which takes no lock: the addon's sockets, loaded from the data dir, which it leaves as it was", async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let run: Awaited<ReturnType<typeof runPlugin>> | undefined;
    try {
      const seen = await observed(async () => {
        run = await runPlugin(cniEnv({ command: 'STATUS' }), () => stdinOf(peer.url, dataDir));
      });
      expect(run).toEqual({ stdout: '', exitCode: 0 });
      expect(err).not.toHaveBeenCalled();
      expect(seen.requests).toBeGreaterThan(0);
      expect(seen.addonConnects).toBeGreaterThan(0);
      expect(seen.addonConnects).toBe(seen.connections);
    } finally {
      err.mockRestore();
    }
    expect(native.dirs).toEqual([dataDir]);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("the plugin's store: the addon's sockets", async () => {
    const seen = await observed(async () => {
      const store = await defaultDeps.storeFor(conf());
      expect(await store.networks()).toEqual([]);
    });
    expect(seen).toEqual({ connections: 1, requests: 1, addonConnects: 1 });
  });

  it("the CLI's store: node:net, though the process has the addon", async () => {
    const seen = await observed(async () => {
      const c = conf();
      const configs: Configs = { byNetwork: new Map([[NETWORK, { file: `${NETWORK}.conf`, network: NETWORK, conf: c }]]), problems: [] };
      expect(await new Stores(dataDir, configs).of(NETWORK).networks()).toEqual([]);
    });
    expect(seen).toEqual({ connections: 1, requests: 1, addonConnects: 0 });
  });

  it("the CLI's status: node:net", async () => {
    const file = writeConflist(join(root, 'net.d'), `${NETWORK}.conflist`, NETWORK, ipamOf(peer.url, dataDir));
    const seen = await observed(async () => {
      const r = await cliIn(['status', '--config', file, '--data-dir', dataDir]);
      expect(r.code, r.stderr).toBe(0);
    });
    expect(seen.requests).toBeGreaterThan(0);
    expect(seen.addonConnects).toBe(0);
  });
});

describe.skipIf(!straceAvailable())("the executable's STATUS (traced)", () => {
  let peer: HostilePeer;
  let root: string;
  beforeAll(async () => {
    peer = await HostilePeer.start(`(_req, s, answer) => s.write(answer(JSON.stringify({ header: { revision: '1' } })))`, 'tcp');
    root = mkdtempSync(join(tmpdir(), 'lh-sockets-'));
  });
  afterAll(async () => {
    await peer?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** STATUS through the executable under strace: its reply, and how many times it read a socket with recv(2). */
  async function tracedStatus(dataDir: string) {
    const trace = join(root, `trace-${Date.now()}`);
    const before = (await peer.stats()).requests.length;
    const r = await runCniAsync({ command: 'STATUS', stdin: stdinOf(peer.url, dataDir), via: ['strace', '-f', '-qq', '-e', 'trace=recvfrom', '-o', trace] });
    // The addon reads its sockets with recv(2), traced as recvfrom; node:net reads them with read(2).
    const recvs = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((l) => /^\d+\s+recvfrom\(/.test(l)).length;
    rmSync(trace);
    return { ...r, recvs, requests: (await peer.stats()).requests.length - before };
  }

  it('goes through the addon, mapped from an unnamed file in the data dir: nothing left there', async () => {
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'keep'), '');
    const r = await tracedStatus(dataDir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.requests).toBeGreaterThan(0);
    expect(r.recvs).toBeGreaterThan(0);
    expect(readdirSync(dataDir)).toEqual(['keep']);
  });

  it('falls back to node:net, saying nothing, when the data dir is missing (a node with no ADD yet)', async () => {
    const dataDir = join(root, 'missing');
    const r = await tracedStatus(dataDir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.requests).toBeGreaterThan(0);
    expect(r.recvs).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
  });

  it.skipIf(!isRoot).each(['noexec', 'ro'])('falls back to node:net on a data dir mounted %s, and says so once on stderr', async (option) => {
    const dataDir = join(root, option);
    mountTmpfs(dataDir, `${option},size=1m`);
    try {
      const r = await tracedStatus(dataDir);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^leasehold: socket addon unavailable \([^\n]*\); calling etcd through node:net\n$/);
      expect(r.requests).toBeGreaterThan(0);
      expect(r.recvs).toBe(0);
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      umountQuiet(dataDir);
    }
  });
});

describe("the executable's STATUS against a member that accepts and never answers", () => {
  let peer: HostilePeer;
  let dataDir: string;
  beforeAll(async () => {
    peer = await HostilePeer.start('() => {}', 'tcp');
    dataDir = mkdtempSync(join(tmpdir(), 'lh-sockets-'));
  });
  afterAll(async () => {
    await peer?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  // The addon's calls block the event loop, so no timer can cut them short: the bound is the etcd client's own.
  it("answers within its own 2 s on the addon's sockets, not ipam.cluster.timeoutMs (10 s)", async () => {
    const t0 = performance.now();
    const r = await runCniAsync({ command: 'STATUS', stdin: stdinOf(peer.url, dataDir, { timeoutMs: 10_000, statusScope: 'cluster' }) });
    const ms = performance.now() - t0;
    expect(r.json, r.stderr).toMatchObject({ code: 50, msg: expect.stringMatching(/etcd unreachable after \d+ ms \(timeout \d+ ms\)/) });
    expect(r.stderr).toBe('');
    expect((await peer.stats()).requests.length).toBeGreaterThan(0);
    // 2 s, and room for the executable's start on a loaded machine.
    expect(ms).toBeLessThan(4000);
  });
});
