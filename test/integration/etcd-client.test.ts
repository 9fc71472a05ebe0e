// The etcd client (src/etcd) against a real 3-member etcd cluster on loopback: request and answer shapes,
// failover, a stopped member, quorum loss, TLS client certificates and username/password auth.
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/etcd/client';
import { EtcdRequestError, EtcdUnavailableError } from '../../src/etcd/errors';
import { prefixEnd } from '../../src/etcd/keys';
import type { ResponseOp, TxnRequest } from '../../src/etcd/kv-types';
import { EtcdCluster, clientConfig, etcdMissing, LEASEHOLD_PREFIX, LEASEHOLD_USER } from '../helpers/etcd-cluster';
import { timed } from '../helpers/timed';

/** ipam.cluster.etcd's keys, as a test writes them. */
type Settings = Parameters<typeof clientConfig>[0];

const missing = etcdMissing();
/** Appended to each suite's name, so a skipped run says why. */
const why = missing ? ` (skipped: ${missing})` : '';
/** Slack for timer and scheduling delays on a loaded 2-core machine. */
const MARGIN_MS = 750;

let seq = 0;
const fresh = (): string => `${LEASEHOLD_PREFIX}t${process.pid}-${++seq}/`;

/** The claim shape cluster mode uses: create the key only if it does not exist, else read it. */
const claim = (key: string, value: string): TxnRequest => ({
  compare: [{ key, target: 'CREATE', result: 'EQUAL', value: 0 }],
  success: [{ put: { key, value } }],
  failure: [{ range: { key } }],
});

/** Writes a key as cluster mode does, in a txn; the answer's header. */
const put = async (c: EtcdClient, key: string, value: string) => (await c.txn({ compare: [], success: [{ put: { key, value } }] })).header;

/** A loopback port nothing listens on: connecting is refused at once. */
async function deadEndpoint(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

describe.skipIf(missing)(`etcd client on a 3-member cluster over http${why}`, () => {
  let cluster: EtcdCluster;
  let client: EtcdClient;
  const newClient = (c: Partial<Settings> = {}): EtcdClient =>
    new EtcdClient(clientConfig({ endpoints: cluster.endpoints, timeoutMs: 3000, ...c }), { kind: 'node' });

  beforeAll(async () => {
    cluster = await EtcdCluster.start();
    client = newClient();
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('put and range: values, revisions as bigint, absent keys, prefix windows with limit and keys only', async () => {
    const p = fresh();
    const written = await put(client, `${p}a`, 'één');
    expect(typeof written.revision).toBe('bigint');
    expect(written.revision).toBeGreaterThan(0n);
    const got = await client.range({ key: `${p}a` });
    expect(got.kvs).toEqual([{ key: `${p}a`, value: 'één', createRevision: written.revision, modRevision: written.revision, version: 1n }]);
    expect(got.count).toBe(1n);

    const absent = await client.range({ key: `${p}nothing` });
    expect(absent.kvs).toEqual([]);
    expect(absent.count).toBe(0n);
    expect(absent.more).toBe(false);

    for (const k of ['d', 'b', 'c', 'e']) await put(client, `${p}${k}`, `v-${k}`);
    const window = await client.range({ key: p, rangeEnd: prefixEnd(p), limit: 3, keysOnly: true });
    expect(window.kvs.map((kv) => kv.key)).toEqual([`${p}a`, `${p}b`, `${p}c`]);
    expect(window.kvs.every((kv) => kv.value === '')).toBe(true);
    expect(window.more).toBe(true);
    expect(window.count).toBe(5n);

    const second = (await client.txn({ compare: [], success: [{ put: { key: `${p}a`, value: 'two', prevKv: true } }] })).responses[0]!;
    expect('put' in second && second.put.prevKv?.value).toBe('één');
    expect((await client.range({ key: `${p}a` })).kvs[0]?.version).toBe(2n);
  });

  it('txn: create_revision == 0 claims a key once; a failed compare runs the failure branch', async () => {
    const key = `${fresh()}addr`;
    const first = await client.txn(claim(key, 'mine'));
    expect(first.succeeded).toBe(true);
    expect(first.responses).toHaveLength(1);
    expect('put' in first.responses[0]!).toBe(true);

    const second = await client.txn(claim(key, 'theirs'));
    expect(second.succeeded).toBe(false);
    const r = second.responses[0]!;
    expect('range' in r && r.range.kvs.map((kv) => [kv.value, kv.createRevision])).toEqual([['mine', first.header.revision]]);
    expect((await client.range({ key })).kvs[0]?.value).toBe('mine');
  });

  it('the gateway omits "succeeded" when a compare fails (the client reads that as false)', async () => {
    const key = `${fresh()}k`;
    await put(client, key, 'x');
    const b64 = Buffer.from(key).toString('base64');
    const raw = await cluster.gateway(0, '/v3/kv/txn', {
      compare: [{ key: b64, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key: b64, value: '' } }],
    });
    expect(raw.status).toBe(200);
    expect(raw.json).not.toHaveProperty('succeeded');
    expect(typeof raw.json.header.revision).toBe('string');
  });

  it('compare on mod_revision guards a delete: a stale revision deletes nothing', async () => {
    const key = `${fresh()}lease`;
    const v1 = await put(client, key, 'a');
    await put(client, key, 'b');
    const stale = await client.txn({ compare: [{ key, target: 'MOD', result: 'EQUAL', value: v1.revision }], success: [{ deleteRange: { key } }] });
    expect(stale.succeeded).toBe(false);
    expect(stale.responses).toEqual([]);
    const now = (await client.range({ key })).kvs[0]!;
    const del = await client.txn({
      compare: [
        { key, target: 'MOD', result: 'EQUAL', value: now.modRevision },
        { key, target: 'VALUE', result: 'EQUAL', value: 'b' },
      ],
      success: [{ deleteRange: { key, prevKv: true } }],
    });
    expect(del.succeeded).toBe(true);
    const d = del.responses[0]!;
    expect('deleteRange' in d && [d.deleteRange.deleted, d.deleteRange.prevKvs.map((kv) => kv.value)]).toEqual([1n, ['b']]);
    expect((await client.range({ key })).kvs).toEqual([]);
  });

  it('nested txns: each guards its own operations, all within one atomic outer txn', async () => {
    const p = fresh();
    await put(client, `${p}mine`, 'me');
    await put(client, `${p}reused`, 'someone else');
    const guardedDelete = (key: string) => ({
      txn: { compare: [{ key, target: 'VALUE' as const, result: 'EQUAL' as const, value: 'me' }], success: [{ deleteRange: { key } }] },
    });
    const r = await client.txn({
      compare: [],
      success: [{ put: { key: `${p}record`, value: 'gone' } }, guardedDelete(`${p}mine`), guardedDelete(`${p}reused`)],
    });
    expect(r.succeeded).toBe(true);
    const nested = r.responses
      .slice(1)
      .map((op) => ('txn' in op ? [op.txn.succeeded, op.txn.responses.map((x) => ('deleteRange' in x ? x.deleteRange.deleted : -1n))] : 'not a txn'));
    expect(nested).toEqual([
      [true, [1n]],
      [false, []],
    ]);
    const left = await client.range({ key: p, rangeEnd: prefixEnd(p) });
    expect(left.kvs.map((kv) => [kv.key.slice(p.length), kv.value])).toEqual([
      ['record', 'gone'],
      ['reused', 'someone else'],
    ]);
  });

  it('deleteRange over a prefix reports the count and previous values', async () => {
    const p = fresh();
    for (const k of ['x', 'y']) await put(client, `${p}${k}`, k);
    const deleteAll = async (prevKv: boolean) => {
      const op = (await client.txn({ compare: [], success: [{ deleteRange: { key: p, rangeEnd: prefixEnd(p), prevKv } }] })).responses[0]!;
      if (!('deleteRange' in op)) throw new Error('no deleteRange answer');
      return op.deleteRange;
    };
    const d = await deleteAll(true);
    expect(d.deleted).toBe(2n);
    expect(d.prevKvs.map((kv) => kv.value).sort()).toEqual(['x', 'y']);
    expect((await deleteAll(false)).deleted).toBe(0n);
  });

  it('a txn naming one key twice is refused as a request error, and applies nothing', async () => {
    const p = fresh();
    const err = await client
      .txn({ compare: [], success: [{ put: { key: `${p}a`, value: '1' } }, { put: { key: `${p}b`, value: '1' } }, { put: { key: `${p}a`, value: '2' } }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(EtcdRequestError);
    expect(err).toMatchObject({ httpStatus: 400, grpcCode: 3 });
    expect(err.message).toMatch(/duplicate key/);
    expect((await client.range({ key: p, rangeEnd: prefixEnd(p) })).kvs).toEqual([]);
  });

  it('a dead first endpoint is skipped; when all are dead the error names each and says nothing was applied', async () => {
    const dead = await deadEndpoint();
    const viaDead = newClient({ endpoints: [dead, ...cluster.endpoints] });
    const r = await timed(() => viaDead.txn(claim(`${fresh()}k`, 'v')));
    expect(r.error).toBeUndefined();
    expect(r.value?.succeeded).toBe(true);

    const dead2 = await deadEndpoint();
    const none = newClient({ endpoints: [dead, dead2], timeoutMs: 2000 });
    const f = await timed(() => none.txn(claim(`${fresh()}k`, 'v')));
    expect(f.error).toBeInstanceOf(EtcdUnavailableError);
    const e = f.error as EtcdUnavailableError;
    expect(e.outcome).toBe('not-applied');
    expect(e.endpoints).toEqual([dead, dead2]);
    expect(e.message).toContain(`${dead}: ECONNREFUSED`);
    // Refused connections fail at once rather than waiting out the budget.
    expect(f.ms).toBeLessThan(1000);
  });

  it('a unix:// endpoint speaks plain http over a local socket (a node-local forwarder); a missing socket is skipped', async () => {
    const sock = join(cluster.dir, 'forwarder.sock');
    const target = new URL(cluster.endpoints[0]!);
    // A minimal forwarder: what stunnel or HAProxy would be in production, here without TLS onward.
    const forwarder = createHttpServer((req, res) => {
      const up = httpRequest({ hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => forwarder.listen(sock, () => r()));
    try {
      const viaSocket = newClient({ endpoints: [`unix://${sock}.missing`, `unix://${sock}`] });
      const key = `${fresh()}k`;
      const r = await viaSocket.txn(claim(key, 'v'));
      expect(r.succeeded).toBe(true);
      expect((await client.range({ key })).kvs[0]?.value).toBe('v');
      const none = await put(newClient({ endpoints: [`unix://${sock}.missing`] }), key, 'w').catch((e) => e);
      expect(none).toMatchObject({ outcome: 'not-applied' });
      expect(none.message).toContain('ENOENT');
    } finally {
      forwarder.close();
    }
  });

  it('a SIGSTOPped member (accepts, never answers) costs one share of timeoutMs, then the next member answers', async () => {
    const leader = await cluster.leader();
    const stopped = [0, 1, 2].find((i) => i !== leader)!;
    const order = [stopped, ...[0, 1, 2].filter((i) => i !== stopped)].map((i) => cluster.endpoints[i]!);
    const c = newClient({ endpoints: order, timeoutMs: 3000 });
    const key = `${fresh()}k`;
    cluster.pause(stopped);
    try {
      const r = await timed(() => c.txn(claim(key, 'first')));
      // Everything about the call, so a failure here says what happened.
      const seen = `stopped m${stopped} (leader m${leader}): ${Math.round(r.ms)} ms, ${r.error ?? JSON.stringify(r.value, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`;
      expect(r.error, seen).toBeUndefined();
      // Applied once: by the answering member, or (a machine so loaded that a request was retried inside etcd
      // or answered after its share) already, so this answer's compare failed on our own value.
      const mine = (op: ResponseOp | undefined) => op && 'range' in op && op.range.kvs[0]?.value === 'first' && op.range.kvs[0].version === 1n;
      expect(r.value?.succeeded || mine(r.value?.responses[0]), seen).toBe(true);
      expect(r.ms, seen).toBeGreaterThanOrEqual(900);
      expect(r.ms, seen).toBeLessThan(3000 + MARGIN_MS);
      // The client now starts at the member that answered.
      const again = await timed(() => c.range({ key }));
      expect(again.ms, String(again.error)).toBeLessThan(500);
    } finally {
      cluster.resume(stopped);
    }
    await cluster.waitHealthy(stopped);
    // Whatever the resumed member does with the request it was holding, the compare keeps the first claim.
    await new Promise((r) => setTimeout(r, 300));
    const kv = (await client.range({ key })).kvs[0]!;
    expect([kv.value, kv.version]).toEqual(['first', 1n]);
  });

  it('a SIGSTOPped leader: the call ends within timeoutMs (+ margin), answered or with the typed error', async () => {
    const leader = await cluster.leader();
    const order = [leader, ...[0, 1, 2].filter((i) => i !== leader)].map((i) => cluster.endpoints[i]!);
    const c = newClient({ endpoints: order, timeoutMs: 3000 });
    cluster.pause(leader);
    let r: Awaited<ReturnType<typeof timed>>;
    try {
      r = await timed(() => c.txn(claim(`${fresh()}k`, 'v')));
    } finally {
      cluster.resume(leader);
    }
    expect(r.ms).toBeLessThan(3000 + MARGIN_MS);
    if (r.error) {
      expect(r.error).toBeInstanceOf(EtcdUnavailableError);
      expect((r.error as EtcdUnavailableError).endpoints[0]).toBe(order[0]);
    }
    await Promise.all([0, 1, 2].map((i) => cluster.waitHealthy(i)));
  });

  it('quorum lost: a write fails with the typed error within timeoutMs, naming every endpoint', async () => {
    const key = `${fresh()}k`;
    await put(client, key, 'before');
    const victims = await cluster.loseQuorum(0);
    try {
      const c = newClient({ timeoutMs: 2000 });
      // A txn that only reads cannot have applied anything (it waits out the same timeout, alongside).
      const [r, readOnly] = await Promise.all([
        timed(() => c.txn(claim(`${fresh()}q`, 'v'))),
        c.txn({ compare: [], success: [{ range: { key } }] }).catch((x) => x),
      ]);
      expect(r.error).toBeInstanceOf(EtcdUnavailableError);
      expect(r.ms).toBeLessThan(2000 + MARGIN_MS);
      expect(readOnly).toMatchObject({ outcome: 'not-applied' });
      const e = r.error as EtcdUnavailableError;
      expect(new Set(e.endpoints)).toEqual(new Set(cluster.endpoints));
      for (const v of victims) expect(e.attempts.find((a) => a.endpoint === cluster.endpoints[v])?.reason).toMatch(/ECONNREFUSED/);
      // The surviving member took the txn and could not commit it: it may still commit once quorum is back.
      expect(e.attempts.find((a) => a.endpoint === cluster.endpoints[0])).toMatchObject({ maybeApplied: true });
      expect(e.outcome).toBe('unknown');
    } finally {
      await cluster.restoreQuorum();
    }
    const after = await client.txn(claim(`${fresh()}k`, 'v'));
    expect(after.succeeded).toBe(true);
  });
});

describe.skipIf(missing)(`etcd client over TLS with client certificates${why}`, () => {
  let cluster: EtcdCluster;
  const newClient = (c: Settings): EtcdClient => new EtcdClient(clientConfig(c), { kind: 'node' });
  beforeAll(async () => {
    cluster = await EtcdCluster.start({ tls: true });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('claims over https with the CA and a client certificate', async () => {
    expect(cluster.endpoints.every((e) => e.startsWith('https://'))).toBe(true);
    const c = newClient({ endpoints: cluster.endpoints, ...cluster.tls!, timeoutMs: 3000 });
    const key = `${fresh()}k`;
    expect((await c.txn(claim(key, 'v'))).succeeded).toBe(true);
    expect((await c.txn(claim(key, 'w'))).succeeded).toBe(false);
    expect((await c.range({ key })).kvs[0]?.value).toBe('v');
  });

  it('without the client certificate, or without the CA, every endpoint fails and the reasons say so', async () => {
    const noCert = newClient({ endpoints: cluster.endpoints, caFile: cluster.tls!.caFile, timeoutMs: 3000 });
    const e1 = await noCert.txn(claim(`${fresh()}k`, 'v')).catch((e) => e);
    expect(e1).toBeInstanceOf(EtcdUnavailableError);
    expect(e1.endpoints).toEqual(cluster.endpoints);
    expect(e1.message).toMatch(/ERR_SSL_.*CERTIFICATE/);
    // The server refused the handshake, so it never read the txn.
    expect(e1.outcome).toBe('not-applied');

    const noCa = newClient({ endpoints: cluster.endpoints, certFile: cluster.tls!.certFile, keyFile: cluster.tls!.keyFile, timeoutMs: 3000 });
    const e2 = await noCa.txn(claim(`${fresh()}k`, 'v')).catch((e) => e);
    expect(e2).toBeInstanceOf(EtcdUnavailableError);
    expect(e2.message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY/);
    // Verification failed before the request was sent: nothing can have been applied.
    expect(e2.outcome).toBe('not-applied');
  });
});

describe.skipIf(missing)(`etcd client with username and passwordFile (TLS and auth on)${why}`, () => {
  let cluster: EtcdCluster;
  const newClient = (c: Partial<Settings>): EtcdClient =>
    new EtcdClient(clientConfig({ endpoints: cluster.endpoints, ...cluster.tls!, timeoutMs: 3000, ...c }), { kind: 'node' });
  beforeAll(async () => {
    cluster = await EtcdCluster.start({ tls: true, auth: true });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('authenticates from the password file and works within its role; outside it, permission denied', async () => {
    const c = newClient({ username: LEASEHOLD_USER, passwordFile: cluster.auth!.userPasswordFile });
    const key = `${fresh()}k`;
    expect((await c.txn(claim(key, 'v'))).succeeded).toBe(true);
    expect((await c.range({ key })).kvs[0]?.value).toBe('v');
    const denied = await put(c, '/elsewhere/k', 'v').catch((e) => e);
    expect(denied).toBeInstanceOf(EtcdRequestError);
    expect(denied).toMatchObject({ httpStatus: 403, grpcCode: 7 });
  });

  it('without credentials the request is refused; a wrong password is refused at authenticate', async () => {
    const anon = await newClient({})
      .range({ key: `${fresh()}k` })
      .catch((e) => e);
    expect(anon).toBeInstanceOf(EtcdRequestError);
    expect(anon.message).toMatch(/user name is empty|permission denied/);

    const wrong = join(cluster.dir, 'wrong.password');
    writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const bad = await newClient({ username: LEASEHOLD_USER, passwordFile: wrong })
      .range({ key: `${fresh()}k` })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(EtcdRequestError);
    expect(bad.message).toMatch(/authenticate as leasehold: .*authentication failed/);
  });

  it('an expired or unknown token is replaced by authenticating once more', async () => {
    const c = newClient({ username: LEASEHOLD_USER, passwordFile: cluster.auth!.userPasswordFile });
    await put(c, `${fresh()}k`, 'v');
    (c as unknown as { failover: { auth: { token: Promise<string> } } }).failover.auth.token = Promise.resolve('invalid.token');
    const key = `${fresh()}k`;
    expect((await c.txn(claim(key, 'v'))).succeeded).toBe(true);
  });

  it('calls made at once by a fresh client share one authentication', async () => {
    const c = newClient({ username: LEASEHOLD_USER, passwordFile: cluster.auth!.userPasswordFile });
    const p = fresh();
    const token = (): Promise<string> | undefined => (c as unknown as { failover: { auth: { token?: Promise<string> } } }).failover.auth.token;
    const calls = [0, 1, 2, 3].map((i) => c.txn(claim(`${p}${i}`, 'v')));
    const first = token();
    expect(first).toBeDefined();
    const done = await Promise.all(calls);
    expect(done.every((r) => r.succeeded)).toBe(true);
    expect(token()).toBe(first);
  });
});
