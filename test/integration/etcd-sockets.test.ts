// Which sockets a call to etcd takes is chosen where the store is built, not by what the process happened to
// load first: the plugin's store goes through the single executable's addon (native/socket.c) once the process
// has it, the CLI's through node:net even then. The addon here is the one npm run build made, handed to the
// transport as the network's lock hands it over in the executable.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NativeAddon } from '../../src/base/native';
import type { Configs } from '../../src/cli/cni-configs';
import { Stores } from '../../src/cli/stores';
import { loadNetConf } from '../../src/config/load';
import { defaultDeps } from '../../src/plugin/dispatch';
import { HostilePeer } from '../helpers/hostile-peer';
import { ROOT } from '../helpers/leasehold';

const loaded = vi.hoisted(() => ({ addon: null as NativeAddon | null }));
vi.mock('../../src/base/native', async (original) => ({
  ...(await original<typeof import('../../src/base/native')>()),
  loadedNative: () => loaded.addon,
}));

const ADDON = join(ROOT, 'build', 'native.node');
if (!existsSync(ADDON)) throw new Error(`${ADDON} is missing: run npm run build first`);
const mod = { exports: {} as NativeAddon };
process.dlopen(mod, ADDON);
const connect = vi.fn(mod.exports.connect);
loaded.addon = { ...mod.exports, connect };

describe('the sockets a call to etcd takes, as the plugin and the CLI build their stores', () => {
  let peer: HostilePeer;
  let dataDir: string;
  const conf = () =>
    loadNetConf(
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'socknet',
        ipam: { type: 'leasehold', dataDir, ranges: [[{ subnet: '10.78.0.0/24' }]], cluster: { etcd: { endpoints: [peer.url] }, nodeName: 'n1' } },
      }),
      { ips: [] },
    );
  beforeAll(async () => {
    peer = await HostilePeer.start(`(_req, s, answer) => s.write(answer(JSON.stringify({ header: { revision: '1' } })))`, 'tcp');
    dataDir = mkdtempSync(join(tmpdir(), 'lh-sockets-'));
  });
  afterAll(async () => {
    await peer?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("the plugin's store: the addon's sockets", async () => {
    connect.mockClear();
    const before = (await peer.stats()).requests.length;
    const store = await defaultDeps.storeFor(conf());
    expect(await store.networks()).toEqual([]);
    expect((await peer.stats()).requests.length).toBe(before + 1);
    expect(connect).toHaveBeenCalledTimes(1);
  });

  it("the CLI's store: node:net, though the process has the addon", async () => {
    connect.mockClear();
    const before = (await peer.stats()).requests.length;
    const c = conf();
    const configs: Configs = { byNetwork: new Map([['socknet', { file: 'socknet.conf', network: 'socknet', conf: c }]]), problems: [] };
    expect(await new Stores(dataDir, configs).of('socknet').networks()).toEqual([]);
    expect((await peer.stats()).requests.length).toBe(before + 1);
    expect(connect).not.toHaveBeenCalled();
  });
});
