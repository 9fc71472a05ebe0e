// The etcd client's wire layer against a hostile peer on loopback (test/helpers/hostile-peer.ts): a server
// whose answers each test scripts byte for byte. Every transport test runs on both of the transport's paths:
// node:net (a plain-script build, https) and the single executable's addon (native/socket.c, build/native.node
// made by npm run build), which the plugin uses for plain http to an address literal or a unix socket.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeAddon } from '../../src/base/native';
import { nowMs } from '../../src/base/proc';
import { EtcdClient } from '../../src/etcd/client';
import { EtcdUnavailableError } from '../../src/etcd/errors';
import { MAX_BODY } from '../../src/etcd/http1';
import type { Endpoint } from '../../src/config/cluster';
import { AttemptError, type Sockets, Transport } from '../../src/etcd/transport';
import { runPlugin } from '../../src/plugin/dispatch';
import { clientConfig } from '../helpers/etcd-cluster';
import { HostilePeer, type Script } from '../helpers/hostile-peer';
import { ROOT, netConf, runCniAsync, tempDataDir } from '../helpers/leasehold';
import { timed } from '../helpers/timed';

const ADDON = join(ROOT, 'build', 'native.node');
if (!existsSync(ADDON)) throw new Error(`${ADDON} is missing: run npm run build first`);
const mod = { exports: {} as NativeAddon };
process.dlopen(mod, ADDON);
const addon = mod.exports;

/** Slack for timer and scheduling delays on a loaded 2-core machine. */
const MARGIN_MS = 750;

const peers: HostilePeer[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
});

async function peer(script: Script | string, on: 'tcp' | 'unix' = 'tcp'): Promise<HostilePeer> {
  const p = await HostilePeer.start(script, on);
  peers.push(p);
  return p;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PATHS: Array<[string, Sockets]> = [
  ['node:net', { kind: 'node' }],
  ['addon', { kind: 'addon', load: () => addon }],
];

describe.each(PATHS)('transport over %s against a hostile peer', (_, sockets) => {
  const transport = (): Transport => new Transport({}, sockets);
  const post = (t: Transport, ep: Endpoint, timeoutMs: number, body = '{}') => t.post(ep, '/v3/kv/range', body, {}, timeoutMs);

  it('Content-Length: 99999999999999 then an endless body: refused at the head, at once', async () => {
    const p = await peer(async (_req, s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n');
      await s.stream(Buffer.alloc(64 * 1024, 'a'), 0, 1 << 30, 4000);
    });
    const r = await timed(() => post(transport(), p.endpoint, 1500));
    expect(r.error).toBeInstanceOf(AttemptError);
    expect(r.error.reason).toMatch(/larger than/);
    expect(r.ms).toBeLessThan(1500);
    await sleep(50);
    expect((await p.stats()).streamed).toBeLessThan(32 << 20);
  });

  it('an endless chunked body: refused once it passes the cap, long before the timeout, its memory bounded', async () => {
    const p = await peer(async (_req, s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      await s.stream(`10000\r\n${'a'.repeat(0x10000)}\r\n`, 0, 1 << 30, 6000);
    });
    const r = await timed(() => post(transport(), p.endpoint, 10_000));
    expect(r.error).toBeInstanceOf(AttemptError);
    expect(r.error.reason).toMatch(/larger than/);
    expect(r.ms).toBeLessThan(8000);
    await sleep(50);
    // What the client read before refusing, plus what the two sockets' buffers held.
    expect((await p.stats()).streamed).toBeLessThan(MAX_BODY + (16 << 20));
  });

  it('a body that keeps arriving, under the cap: the call ends at its timeout', async () => {
    // A burst as fast as the client reads, then a drip less than a millisecond apart: bytes are always
    // waiting, and the 60 MiB the head announces never all come.
    const p = await peer(async (_req, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${60 << 20}\r\n\r\n`);
      await s.stream(Buffer.alloc(1 << 20, 'a'), 0, 56 << 20, 6000);
      await s.stream(Buffer.alloc(1024, 'a'), 0.1, 3 << 20, 6000);
    });
    const r = await timed(() => post(transport(), p.endpoint, 1500));
    expect(r.error).toBeInstanceOf(AttemptError);
    expect(r.error.timedOut).toBe(true);
    expect(r.ms).toBeLessThan(1500 + MARGIN_MS);
  });

  it('a 204 without a length is answered at once, not at the timeout', async () => {
    const p = await peer((_req, s) => s.write('HTTP/1.1 204 No Content\r\n\r\n'));
    const r = await timed(() => post(transport(), p.endpoint, 3000));
    expect(r.value).toEqual({ status: 204, body: '' });
    expect(r.ms).toBeLessThan(1000);
  });

  it('surplus bytes after a body: the connection is not reused, and the next call gets its own answer', async () => {
    const p = await peer((req, s, answer) => {
      s.write(req.n === 0 ? Buffer.concat([answer({ n: 0 }), answer({ stale: true })]) : answer({ n: req.n }));
    });
    const t = transport();
    expect((await post(t, p.endpoint, 3000)).body).toBe('{"n":0}');
    expect((await post(t, p.endpoint, 3000)).body).toBe('{"n":1}');
    expect((await p.stats()).connections).toBe(2);
  });

  it.each<[string, Script]>([
    [
      'bytes that arrive on an idle connection: it is dropped',
      (req, s, answer) => {
        s.write(answer({ n: req.n }));
        if (req.n === 0) setTimeout(() => s.write(answer({ stale: true })), 30);
      },
    ],
    [
      'an idle connection the peer closed is not reused',
      (req, s, answer) => {
        s.write(answer({ n: req.n }));
        setTimeout(() => s.close(), 20);
      },
    ],
  ])('%s: the next call goes out on a new one and gets its own answer', async (_, script) => {
    const p = await peer(script);
    const t = transport();
    expect((await post(t, p.endpoint, 3000)).body).toBe('{"n":0}');
    await sleep(200);
    expect((await post(t, p.endpoint, 3000)).body).toBe('{"n":1}');
    expect((await p.stats()).connections).toBe(2);
  });

  it('a peer that closes each connection right after its answer: a call on a kept one either goes out on a new one, or fails as a stale connection, worth a retry', async () => {
    const p = await peer((req, s, answer) => s.close(answer({ n: req.n })));
    const t = transport();
    const kinds = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await timed(() => post(t, p.endpoint, 3000));
      if (r.value) kinds.add('answered');
      else {
        expect(r.error).toBeInstanceOf(AttemptError);
        expect({ stale: r.error.staleConnection, timedOut: r.error.timedOut }).toEqual({ stale: true, timedOut: false });
        kinds.add('stale');
      }
    }
    expect(kinds).toContain('answered');
  });
});

describe.each(PATHS)('a unix socket whose backlog is full, over %s', (_, sockets) => {
  it('connect gets EAGAIN: nothing was sent, so nothing may have been applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lh-backlog-'));
    const path = join(dir, 'etcd.sock');
    // A listener that never accepts: its thread blocks until told to stop.
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const s = require('node:net').createServer();
       s.listen({ path: workerData.path, backlog: 1 }, () => {
         parentPort.postMessage('up');
         Atomics.wait(workerData.flag, 0, 0);
         s.close();
       });`,
      { eval: true, workerData: { path, flag } },
    );
    const fillers: Socket[] = [];
    try {
      await new Promise((r) => w.once('message', r));
      // Fill the backlog until a connect is refused with EAGAIN.
      for (let full = false; !full && fillers.length < 64; ) {
        const s = connect({ path });
        fillers.push(s);
        full = await new Promise<boolean>((r) => s.once('connect', () => r(false)).once('error', (e: NodeJS.ErrnoException) => r(e.code === 'EAGAIN')));
      }
      const t = new Transport({}, sockets);
      const r = await timed(() => t.post({ url: `unix://${path}`, https: false, socketPath: path }, '/v3/kv/put', '{}', {}, 1500));
      expect(r.error).toBeInstanceOf(AttemptError);
      expect(r.error.reason).toMatch(/EAGAIN/);
      expect(r.error.maybeApplied).toBe(false);
    } finally {
      for (const s of fillers) s.destroy();
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await w.terminate();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(PATHS)("the client's until, over %s", (_, sockets) => {
  it('bounds all its calls together against a member that accepts and never answers', async () => {
    const p = await peer(() => {});
    const c = new EtcdClient(clientConfig({ endpoints: [p.url], timeoutMs: 5000 }), sockets, nowMs() + 1000);
    const r = await timed(async () => {
      for (let i = 0; i < 3; i++) await expect(c.range({ key: 'k' })).rejects.toBeInstanceOf(EtcdUnavailableError);
    });
    expect(r.error).toBeUndefined();
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(1000 + MARGIN_MS);
  });
});

describe('the client against a hostile peer (node:net)', () => {
  const client = (p: HostilePeer, extra: Partial<Parameters<typeof clientConfig>[0]> = {}): EtcdClient => {
    return new EtcdClient(clientConfig({ endpoints: [p.url], timeoutMs: 2000, ...extra }), { kind: 'node' });
  };
  /**
   * A peer answering every request 200 with `body`; a txn of one put of key "put" (or one delete of key "del")
   * gets `body` as that operation's answer, so the put and delete answers are checked where etcd sends them.
   */
  const answering = (body: unknown): Promise<HostilePeer> =>
    peer(`(req, s, answer) => {
      const body = ${JSON.stringify(body)};
      const op = req.body.includes('"${Buffer.from('put').toString('base64')}"') ? 'response_put' : req.body.includes('"${Buffer.from('del').toString('base64')}"') ? 'response_delete_range' : undefined;
      s.write(answer(JSON.stringify(op ? { succeeded: true, responses: [{ [op]: body }] } : body)));
    }`);

  const VERBS: Record<string, [boolean, (c: EtcdClient) => Promise<unknown>]> = {
    range: [false, (c) => c.range({ key: 'k' })],
    put: [true, (c) => c.txn({ compare: [], success: [{ put: { key: 'put', value: 'v', prevKv: true } }] })],
    deleteRange: [true, (c) => c.txn({ compare: [], success: [{ deleteRange: { key: 'del', prevKv: true } }] })],
    // An answer without "succeeded" ran the failure branch: none here, so no responses are due.
    txn: [true, (c) => c.txn({ compare: [{ key: 'k', target: 'VERSION', result: 'EQUAL', value: 0 }], success: [{ put: { key: 'k', value: 'v' } }] })],
  };
  const ALL = Object.keys(VERBS);
  /** Answers of the wrong types, and the verbs whose answers hold that field (the others ignore it). */
  const WRONG: Array<[string, unknown, string[]]> = [
    ['revision "x"', { header: { revision: 'x' } }, ALL],
    ['revision 1.5', { header: { revision: 1.5 } }, ALL],
    ['revision -1', { header: { revision: '-1' } }, ALL],
    ['header a string', { header: 'x' }, ALL],
    ['an array', [], ALL],
    ['null', null, ALL],
    ['kvs 5', { kvs: 5 }, ['range']],
    ['kvs [5]', { kvs: [5] }, ['range']],
    ['a key that is a number', { kvs: [{ key: 5 }] }, ['range']],
    ['a key that is not base64', { kvs: [{ key: '%%%' }] }, ['range']],
    ['count "1e3"', { count: '1e3' }, ['range']],
    ['more "yes"', { more: 'yes' }, ['range']],
    ['prev_kv 1', { prev_kv: 1 }, ['put']],
    ['deleted {}', { deleted: {} }, ['deleteRange']],
    ['prev_kvs "a"', { prev_kvs: 'a' }, ['deleteRange']],
    ['succeeded "true"', { succeeded: 'true' }, ['txn']],
    ['responses {}', { responses: {} }, ['txn']],
    ['responses [{}]', { responses: [{}] }, ['txn']],
    ['a nested range with kvs 5', { responses: [{ response_range: { kvs: 5 } }] }, ['txn']],
  ];

  it('a 200 of well-formed JSON of the wrong types is an unusable answer on every verb (EtcdUnavailableError), never a TypeError', async () => {
    const wrong: string[] = [];
    for (const [what, body, refusedBy] of WRONG) {
      const c = client(await answering(body));
      for (const [verb, [writes, call]] of Object.entries(VERBS)) {
        const r = await timed(() => call(c));
        const refused = r.error instanceof EtcdUnavailableError && /unreadable answer/.test(r.error.message);
        const ok = refusedBy.includes(verb) ? refused && r.error.outcome === (writes ? 'unknown' : 'not-applied') : r.error === undefined;
        if (!ok) wrong.push(`${verb} with ${what}: ${r.error ? `${r.error.name}: ${r.error.message}` : 'accepted'}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    ['no responses', { succeeded: true }],
    ['a range for a put', { succeeded: true, responses: [{ response_range: {} }, { response_range: {} }] }],
    ['one response too many', { succeeded: true, responses: [{ response_put: {} }, { response_txn: {} }, { response_put: {} }] }],
    ['a nested txn answering its other branch', { succeeded: true, responses: [{ response_put: {} }, { response_txn: { succeeded: true } }] }],
  ])("a txn answered with %s is not etcd's answer to it", async (_, body) => {
    const c = client(await answering(body));
    const nested = { compare: [], success: [{ deleteRange: { key: 'k' } }] };
    const r = await timed(() => c.txn({ compare: [], success: [{ put: { key: 'k', value: 'v' } }, { txn: nested }] }));
    expect(r.error).toBeInstanceOf(EtcdUnavailableError);
    expect(r.error.message).toMatch(/unreadable answer/);
    expect(r.error.outcome).toBe('unknown');
  });

  it.each(['204 No Content', '302 Found', '206 Partial Content'])("a %s is not an answer of etcd's: a failed attempt, never a refusal", async (status) => {
    const p = await peer(`(_req, s, answer) => s.write(answer('{}', ${JSON.stringify(status)}))`);
    const c = client(p);
    for (const [verb, [writes, call]] of Object.entries(VERBS)) {
      const r = await timed(() => call(c));
      expect(r.error, verb).toBeInstanceOf(EtcdUnavailableError);
      expect(r.error.outcome, verb).toBe(writes ? 'unknown' : 'not-applied');
    }
  });

  it('an auth token holding CR LF is never written as a header: no header or request is injected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lh-auth-'));
    try {
      writeFileSync(join(dir, 'password'), 'pw\n', { mode: 0o600 });
      const p = await peer((req, s, answer) => {
        if (req.path === '/v3/auth/authenticate')
          s.write(answer({ token: 'tok\r\nX-Injected: yes\r\n\r\nPOST /v3/kv/deleterange HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}' }));
        else s.write(answer({ header: { revision: '1' } }));
      });
      const r = await timed(() => client(p, { username: 'u', passwordFile: join(dir, 'password') }).range({ key: 'k' }));
      expect(r.error).toBeInstanceOf(EtcdUnavailableError);
      const { requests } = await p.stats();
      expect(requests.map((q) => q.path)).not.toContain('/v3/kv/deleterange');
      expect(requests.some((q) => /x-injected/i.test(q.head))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a peer that closes each connection right after its answer: back-to-back calls all succeed', async () => {
    const p = await peer((req, s, answer) => s.close(answer({ header: { revision: String(req.n + 1) } })));
    const c = client(p);
    const failed: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await timed(() => c.txn({ compare: [], success: [{ put: { key: 'k', value: 'v' } }] }));
      if (r.error) failed.push(r.error.message);
    }
    expect(failed).toEqual([]);
  });
});

describe('every CNI verb against a peer answering 200 with the wrong types', () => {
  /** The exit code or CNI error code of each verb, and the releases journaled, against `endpoint`. */
  async function verbs(endpoint: string): Promise<{ codes: Record<string, number>; journaled: number }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'lh-wire-'));
    try {
      const conf = JSON.stringify({
        cniVersion: '1.1.0',
        name: 'wirenet',
        ipam: {
          type: 'leasehold',
          dataDir,
          ranges: [[{ subnet: '10.77.0.0/24' }]],
          cluster: { etcd: { endpoints: [endpoint] }, nodeName: 'n1', timeoutMs: 1500 },
        },
      });
      const codes: Record<string, number> = {};
      for (const verb of ['ADD', 'CHECK', 'DEL', 'GC', 'STATUS']) {
        const env = { CNI_COMMAND: verb, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent' };
        const r = await runPlugin(env, () => conf);
        codes[verb] = r.exitCode === 0 ? 0 : JSON.parse(r.stdout).code;
      }
      const released = join(dataDir, 'wirenet', 'released');
      return { codes, journaled: existsSync(released) ? readdirSync(released).length : 0 };
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  it('never code 999: each verb answers as when etcd is unreachable, and DEL journals the release', async () => {
    const hostile = await peer((_req, s, answer) => s.write(answer({ header: { revision: 'x' }, kvs: 5, responses: {}, succeeded: 'yes' })));
    const gone = await peer(() => {});
    const goneUrl = gone.url;
    await gone.close();
    peers.splice(peers.indexOf(gone), 1);
    const unreachable = await verbs(goneUrl);
    const malformed = await verbs(hostile.url);
    expect(Object.values(malformed.codes)).not.toContain(999);
    expect(malformed.codes.DEL).toBe(0);
    expect(malformed.journaled).toBe(1);
    expect(malformed).toEqual(unreachable);
  });
});

describe('the executable, whose plugin path uses the addon, against a hostile peer', () => {
  const TIMEOUT_MS = 1500;
  /** Process start-up and the config's parsing, on a loaded machine. */
  const STARTUP_MS = 1500;

  async function cni(command: string, endpoint: string, dataDir: string, unix = false) {
    return runCniAsync({
      command,
      containerID: 'c1',
      stdin: netConf(dataDir, { cluster: { etcd: { endpoints: [endpoint] }, nodeName: 'n1', timeoutMs: TIMEOUT_MS } }, { name: unix ? 'wireunix' : 'wirenet' }),
    });
  }

  it.each([
    [
      'Content-Length: 99999999999999 then an endless body',
      "s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 99999999999999\\r\\n\\r\\n'); await s.stream(Buffer.alloc(65536, 97), 0, 2 ** 31, 8000);",
    ],
    [
      'an endless chunked body',
      "s.write('HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n'); await s.stream('10000\\r\\n' + 'a'.repeat(65536) + '\\r\\n', 0, 2 ** 31, 8000);",
    ],
    [
      'a body that keeps arriving',
      "s.write('HTTP/1.1 200 OK\\r\\nContent-Length: 62914560\\r\\n\\r\\n'); await s.stream(Buffer.alloc(1 << 20, 97), 0, 56 << 20, 8000); await s.stream(Buffer.alloc(1024, 97), 0.1, 3 << 20, 8000);",
    ],
  ])('%s: ADD ends within timeoutMs with code 11, over tcp and a unix socket', async (_, body) => {
    const data = tempDataDir('lh-wire-exe-');
    try {
      for (const on of ['tcp', 'unix'] as const) {
        const p = await peer(`async (_req, s) => { ${body} }`, on);
        const r = await timed(() => cni('ADD', p.url, data.dir, on === 'unix'));
        expect(r.value?.json?.code, `${on}: ${r.value?.stdout}`).toBe(11);
        expect(r.ms).toBeLessThan(TIMEOUT_MS + STARTUP_MS);
      }
    } finally {
      data.remove();
    }
  });

  it('wrong JSON types: ADD is code 11, DEL succeeds and journals the release', async () => {
    const p = await peer((_req, s, answer) => s.write(answer({ header: { revision: 'x' }, kvs: 5, responses: {}, succeeded: 'yes' })));
    const data = tempDataDir('lh-wire-exe-');
    try {
      const add = await cni('ADD', p.url, data.dir);
      expect(add.json?.code, add.stdout).toBe(11);
      const del = await cni('DEL', p.url, data.dir);
      expect(del.code, del.stdout).toBe(0);
      expect(del.stderr).toMatch(/journaled/);
      expect(readdirSync(join(data.dir, 'wirenet', 'released'))).toHaveLength(1);
    } finally {
      data.remove();
    }
  });
});
