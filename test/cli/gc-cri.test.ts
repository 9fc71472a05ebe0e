// leasehold gc --cri against a stand-in runtime whose ListPodSandbox answer each test chooses, and against
// sockets that are no CRI runtime at all. The e2e test (test/e2e/cri.test.ts) runs it against containerd.
import { createServer as createH2Server } from 'node:http2';
import { createServer as createNetServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { type FakeCri, startFakeCri } from '../helpers/fake-cri';
import { add, cliAsync, editLease, expectConsistent, expectOneLine, ROOT, readNetwork, tempDataDir } from '../helpers/leasehold';
import { freedJson } from './schemas';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const fresh = (): string => {
  const d = tempDataDir('lh-cli-gc-cri-');
  cleanups.push(() => d.remove());
  return d.dir;
};
const runtime = async (dir: string, api: 'v1' | 'v1alpha2' = 'v1'): Promise<FakeCri> => {
  const f = await startFakeCri(dir, api);
  cleanups.push(() => f.stop());
  return f;
};
const ids = (dir: string, net = 'testnet'): string[] => [...readNetwork(join(dir, net)).records.values()].map((l) => `${l.containerID}@${l.ifname}`).sort();
const HOUR = 3_600_000;
const older = (dir: string, id: string, ms: number, ifname = 'eth0'): void =>
  editLease(dir, 'testnet', id, (l) => (l.createdAt = new Date(Date.parse(l.createdAt) - ms).toISOString()), ifname);

describe('gc --cri', () => {
  test('frees old leases of containers the runtime does not list; keeps listed ones (every interface, any state) and young ones', async () => {
    const dir = fresh();
    const cri = await runtime(dir);
    const gone = add(dir, 'gone0001');
    add(dir, 'live0001', { ifname: 'eth0' });
    add(dir, 'live0001', { ifname: 'net1' }); // a Multus secondary attachment of the same sandbox
    add(dir, 'down0001'); // a sandbox the runtime lists as not ready
    add(dir, 'young001');
    for (const [id, ifname] of [
      ['gone0001', 'eth0'],
      ['live0001', 'eth0'],
      ['live0001', 'net1'],
      ['down0001', 'eth0'],
    ] as const)
      older(dir, id, HOUR, ifname);
    cri.sandboxes = [
      { id: 'live0001', metadata: { name: 'web-0', namespace: 'prod', uid: 'u1' } },
      { id: 'down0001', state: 'SANDBOX_NOTREADY' },
    ];
    const dry = await cliAsync(['gc', '--cri', cri.endpoint, '--data-dir', dir, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(freedJson.parse(dry.json)).toEqual({
      dryRun: true,
      refused: [],
      runtime: { endpoint: cri.endpoint, sandboxes: 2 },
      freed: [{ network: 'testnet', kind: 'lease', reason: 'not-valid', containerID: 'gone0001', ifname: 'eth0', addresses: [gone] }],
    });
    expect(ids(dir)).toHaveLength(5);
    const r = await cliAsync(['gc', '--cri', cri.endpoint, '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('freed 1 address(es) in 1 entry');
    expect(ids(dir)).toEqual(['down0001@eth0', 'live0001@eth0', 'live0001@net1', 'young001@eth0']);
    expectConsistent(dir, 'testnet');
    expect(cri.calls).toBe(2);
  });

  test('--grace sets how young a lease is kept; a bare path is an endpoint too', async () => {
    const dir = fresh();
    const cri = await runtime(dir);
    add(dir, 'gone0001');
    older(dir, 'gone0001', 5 * 60_000);
    cri.sandboxes = [{ id: 'other001' }];
    const kept = await cliAsync(['gc', '--cri', cri.endpoint, '--data-dir', dir]);
    expect(kept.stdout).toContain('nothing freed');
    const freed = await cliAsync(['gc', '--cri', cri.endpoint.slice('unix://'.length), '--grace', '4m', '--data-dir', dir]);
    expect(freed.code, freed.stderr).toBe(0);
    expect(ids(dir)).toEqual([]);
  });

  test('a runtime that lists nothing while a lease is young is no verdict: nothing freed; with only old leases it is', async () => {
    const dir = fresh();
    const cri = await runtime(dir);
    add(dir, 'gone0001');
    add(dir, 'young001');
    older(dir, 'gone0001', HOUR);
    const r = await cliAsync(['gc', '--cri', cri.endpoint, '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(expectOneLine(r)).toMatch(
      /the runtime at unix:\/\/.* lists no pod sandbox, but 1 lease\(s\) are younger than --grace \(testnet: young001\/eth0\): .*nothing freed/,
    );
    expect(ids(dir)).toHaveLength(2);
    older(dir, 'young001', HOUR);
    const ok = await cliAsync(['gc', '--cri', cri.endpoint, '--data-dir', dir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ids(dir)).toEqual([]);
  });

  test('a runtime that speaks only runtime.v1alpha2 is asked in it', async () => {
    const dir = fresh();
    const cri = await runtime(dir, 'v1alpha2');
    add(dir, 'live0001');
    add(dir, 'gone0001');
    older(dir, 'live0001', HOUR);
    older(dir, 'gone0001', HOUR);
    cri.sandboxes = [{ id: 'live0001' }];
    const r = await cliAsync(['gc', '--cri', cri.endpoint, '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(ids(dir)).toEqual(['live0001@eth0']);
  });

  describe('frees nothing and says why in one line (exit 2) when the runtime cannot be asked', () => {
    const withLeak = (): string => {
      const dir = fresh();
      add(dir, 'gone0001');
      older(dir, 'gone0001', HOUR);
      return dir;
    };
    const serve = async (server: Server | ReturnType<typeof createH2Server>, sock: string): Promise<void> => {
      await new Promise<void>((res) => server.listen(sock, res));
      cleanups.push(() => server.close()); // not awaited: a connection the client left open must not hold the test
    };
    const expectRefused = async (dir: string, endpoint: string, why: RegExp): Promise<void> => {
      const r = await cliAsync(['gc', '--cri', endpoint, '--data-dir', dir]);
      expect(r.code).toBe(2);
      expect(expectOneLine(r)).toMatch(why);
      expect(ids(dir)).toEqual(['gone0001@eth0']);
    };

    test('no socket', async () => {
      const dir = withLeak();
      await expectRefused(dir, join(dir, 'none.sock'), /cannot list the runtime's pod sandboxes at .*none\.sock \(ENOENT\); nothing freed$/);
    });

    test('a socket that speaks no HTTP/2', async () => {
      const dir = withLeak();
      const server = createNetServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
      await serve(server, join(dir, 'h1.sock'));
      await expectRefused(dir, join(dir, 'h1.sock'), /cannot list the runtime's pod sandboxes at .*h1\.sock \(.+\); nothing freed$/);
    });

    test.each([
      ['an error status', { 'grpc-status': '14', 'grpc-message': 'runtime%20is%20restarting' }, Buffer.alloc(0), /gRPC status 14: runtime is restarting/],
      ['a message that runs past its frame', { 'grpc-status': '0' }, Buffer.from([0, 0, 0, 0, 9, 0x0a, 2]), /frame says 9 bytes, 2 came/],
      [
        'malformed protobuf',
        { 'grpc-status': '0' },
        Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x7f]),
        /its answer is not a sandbox list \(field 1 runs past the message/,
      ],
      ['a compressed message', { 'grpc-status': '0' }, Buffer.from([1, 0, 0, 0, 0]), /compressed/],
      ['no status', {}, Buffer.from([0, 0, 0, 0, 0]), /no grpc-status/],
    ])('a gRPC server that answers with %s', async (_what, trailers, body, why) => {
      const dir = withLeak();
      const server = createH2Server();
      server.on('stream', (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers(trailers));
        stream.end(body);
      });
      await serve(server, join(dir, 'bad.sock'));
      await expectRefused(dir, `unix://${join(dir, 'bad.sock')}`, why);
    });
  });

  test('the CRI client is off the plugin path: only the CLI bundle has it, and loads node:http2 only for gc --cri', () => {
    const plugin = readFileSync(join(ROOT, 'build', 'leasehold.cjs'), 'utf8');
    const cliBundle = readFileSync(join(ROOT, 'build', 'leasehold-cli.cjs'), 'utf8');
    for (const s of ['node:http2', 'ListPodSandbox']) {
      expect(plugin).not.toContain(s);
      expect(cliBundle).toContain(s);
    }
    // esbuild wraps a dynamically imported module in an initialiser that runs on first import.
    expect(cliBundle).toMatch(/init_cri=__esm\(\{"src\/cli\/cri\.ts"\(\)\{"use strict";import_node_http2=require\("node:http2"\)/);
  });

  test('refuses --cri with --keep-from, and an endpoint that is no unix socket', async () => {
    const dir = fresh();
    const both = await cliAsync(['gc', '--cri', '--keep-from', '-', '--data-dir', dir]);
    expect(both.code).toBe(2);
    expect(expectOneLine(both)).toContain('--cri and --keep-from are two lists of live attachments: give one');
    const tcp = await cliAsync(['gc', '--cri', 'localhost:1234', '--data-dir', dir]);
    expect(tcp.code).toBe(2);
    expect(expectOneLine(tcp)).toContain('expected unix:///path/to/runtime.sock or an absolute socket path');
  });

  test('frees nothing and says why when the runtime accepts and never answers: given up after --cri-timeout (default 10s)', async () => {
    const dir = fresh();
    add(dir, 'gone0001');
    older(dir, 'gone0001', HOUR);
    const mute: Server = createNetServer(() => {});
    await new Promise<void>((res) => mute.listen(join(dir, 'mute.sock'), res));
    cleanups.push(() => mute.close());
    const t0 = Date.now();
    const r = await cliAsync(['gc', '--cri', join(dir, 'mute.sock'), '--cri-timeout', '1s', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(expectOneLine(r)).toMatch(/\(no answer within 1000 ms\); nothing freed$/);
    expect(ids(dir)).toEqual(['gone0001@eth0']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const help = await cliAsync(['gc', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--cri-timeout <duration> .*\(default: 10s\)/);
  });
});
