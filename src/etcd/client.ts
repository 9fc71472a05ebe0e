// An etcd v3 client over the JSON gateway every etcd member serves on its client URL (/v3/kv/*), with
// node:net/node:tls only (transport.ts): the npm etcd3 client costs ~300 ms to import and cannot be bundled
// into one executable. Every call is bounded as a whole by timeoutMs across endpoint failover.
import { nowMs } from '../base/proc.js';
import type { Endpoint } from '../config/cluster.js';
import type { EtcdAccess } from '../config/secrets.js';
import { EtcdRequestError, EtcdUnavailableError, type AttemptFailure } from './errors.js';
import { fromBase64, toBase64, type Bytes } from './keys.js';
import { AttemptError, Transport } from './transport.js';

/** 64-bit integers (revisions, versions, counts, ids) are bigint throughout. */
export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  revision: bigint;
  raftTerm: bigint;
}

export interface KeyValue {
  key: string;
  value: string;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
}

export interface RangeRequest {
  key: Bytes;
  /** Reads [key, rangeEnd); omitted: only `key`. prefixEnd(p) reads a whole prefix. */
  rangeEnd?: Bytes;
  limit?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** Answer from the member's local state, without a raft round: fast and available without quorum, maybe stale. */
  serializable?: boolean;
  /** Read at this revision (0 or omitted: the newest). */
  revision?: bigint | number;
  sortOrder?: 'ASCEND' | 'DESCEND';
  sortTarget?: 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  /** More keys matched than `limit` returned. */
  more: boolean;
  count: bigint;
}

export interface PutRequest {
  key: Bytes;
  value: Bytes;
  prevKv?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Bytes;
  rangeEnd?: Bytes;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: bigint;
  prevKvs: KeyValue[];
}

/**
 * A txn guard. CREATE/MOD compare the key's create/mod revision, VERSION its version (0 for all three
 * means "the key does not exist"), VALUE its value.
 */
export type Compare =
  | { key: Bytes; rangeEnd?: Bytes; target: 'CREATE' | 'MOD' | 'VERSION'; result: CompareResult; value: bigint | number }
  | { key: Bytes; rangeEnd?: Bytes; target: 'VALUE'; result: CompareResult; value: Bytes };

export type CompareResult = 'EQUAL' | 'NOT_EQUAL' | 'GREATER' | 'LESS';

/** A nested txn runs its own compare within the outer txn's branch, atomically with it (etcd ≥ 3.3). */
export type RequestOp = { range: RangeRequest } | { put: PutRequest } | { deleteRange: DeleteRangeRequest } | { txn: TxnRequest };
export type ResponseOp = { range: RangeResponse } | { put: PutResponse } | { deleteRange: DeleteRangeResponse } | { txn: NestedTxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure?: RequestOp[];
}

export interface NestedTxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  /** The answers of the branch that ran, in order. */
  responses: ResponseOp[];
}

export interface TxnResponse extends NestedTxnResponse {
  /**
   * An earlier attempt of this same txn (on a member that then failed) may have been applied. A failed compare
   * can then be this txn's own earlier success: read back before concluding someone else holds the keys.
   */
  retriedAfterUnknownOutcome: boolean;
}

export interface StatusResponse {
  header: ResponseHeader;
  version: string;
  leader: bigint;
  raftIndex: bigint;
  raftTerm: bigint;
  dbSize: bigint;
}

// ---- wire format: base64 bytes, 64-bit integers as strings, zero/false/empty fields omitted ----

// biome-ignore lint/suspicious/noExplicitAny: the gateway's JSON, read field by field with a default for each
type Wire = Record<string, any>;

const big = (v: unknown): bigint => (typeof v === 'string' || typeof v === 'number' ? BigInt(v) : 0n);

const header = (h: Wire | undefined): ResponseHeader => ({
  clusterId: big(h?.cluster_id),
  memberId: big(h?.member_id),
  revision: big(h?.revision),
  raftTerm: big(h?.raft_term),
});

const keyValue = (kv: Wire): KeyValue => ({
  key: fromBase64(kv.key),
  value: fromBase64(kv.value),
  createRevision: big(kv.create_revision),
  modRevision: big(kv.mod_revision),
  version: big(kv.version),
});

const rangeWire = (r: RangeRequest): Wire => ({
  key: toBase64(r.key),
  ...(r.rangeEnd !== undefined && { range_end: toBase64(r.rangeEnd) }),
  ...(r.limit !== undefined && { limit: String(r.limit) }),
  ...(r.keysOnly && { keys_only: true }),
  ...(r.countOnly && { count_only: true }),
  ...(r.serializable && { serializable: true }),
  ...(r.revision !== undefined && { revision: String(r.revision) }),
  ...(r.sortOrder && { sort_order: r.sortOrder }),
  ...(r.sortTarget && { sort_target: r.sortTarget }),
});
const putWire = (p: PutRequest): Wire => ({ key: toBase64(p.key), value: toBase64(p.value), ...(p.prevKv && { prev_kv: true }) });
const deleteWire = (d: DeleteRangeRequest): Wire => ({
  key: toBase64(d.key),
  ...(d.rangeEnd !== undefined && { range_end: toBase64(d.rangeEnd) }),
  ...(d.prevKv && { prev_kv: true }),
});

const compareField = { CREATE: 'create_revision', MOD: 'mod_revision', VERSION: 'version', VALUE: 'value' } as const;
const compareWire = (c: Compare): Wire => ({
  key: toBase64(c.key),
  ...(c.rangeEnd !== undefined && { range_end: toBase64(c.rangeEnd) }),
  target: c.target,
  result: c.result,
  [compareField[c.target]]: c.target === 'VALUE' ? toBase64(c.value) : String(c.value),
});

const txnWire = (t: TxnRequest): Wire => ({
  compare: t.compare.map(compareWire),
  success: t.success.map(opWire),
  ...(t.failure?.length && { failure: t.failure.map(opWire) }),
});

function opWire(op: RequestOp): Wire {
  if ('range' in op) return { request_range: rangeWire(op.range) };
  if ('put' in op) return { request_put: putWire(op.put) };
  if ('deleteRange' in op) return { request_delete_range: deleteWire(op.deleteRange) };
  return { request_txn: txnWire(op.txn) };
}

const rangeAnswer = (w: Wire): RangeResponse => ({ header: header(w.header), kvs: (w.kvs ?? []).map(keyValue), more: w.more === true, count: big(w.count) });
const putAnswer = (w: Wire): PutResponse => ({ header: header(w.header), ...(w.prev_kv && { prevKv: keyValue(w.prev_kv) }) });
const deleteAnswer = (w: Wire): DeleteRangeResponse => ({ header: header(w.header), deleted: big(w.deleted), prevKvs: (w.prev_kvs ?? []).map(keyValue) });
const txnAnswer = (w: Wire): NestedTxnResponse => ({ header: header(w.header), succeeded: w.succeeded === true, responses: (w.responses ?? []).map(opAnswer) });

function opAnswer(w: Wire): ResponseOp {
  if (w.response_range) return { range: rangeAnswer(w.response_range) };
  if (w.response_put) return { put: putAnswer(w.response_put) };
  if (w.response_delete_range) return { deleteRange: deleteAnswer(w.response_delete_range) };
  if (w.response_txn) return { txn: txnAnswer(w.response_txn) };
  throw new Error(`etcd txn answer holds an operation this client does not know: ${JSON.stringify(w).slice(0, 200)}`);
}

// ---- failure classification ----

/**
 * 503 answers in which etcd says it did not propose the request. Any other 5xx (above all "request timed
 * out", what a write gets when quorum is lost) may have been committed.
 */
const NOT_APPLIED = /no leader|too many requests|not capable|unhealthy cluster/i;

const reasonOf = (status: number, w: Wire | undefined, body: string): string => `HTTP ${status}: ${w?.message ?? w?.error ?? body.slice(0, 200)}`;

function parseJson(body: string): Wire | undefined {
  try {
    const v = JSON.parse(body);
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a txn can change anything: a read-only one never has an unknown outcome. */
const writes = (t: TxnRequest): boolean =>
  [...t.success, ...(t.failure ?? [])].some((op) => 'put' in op || 'deleteRange' in op || ('txn' in op && writes(op.txn)));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class EtcdClient {
  readonly timeoutMs: number;
  private readonly endpoints: Endpoint[];
  private readonly transport: Transport;
  private readonly credentials?: { name: string; password: string };
  private token?: Promise<string>;
  /** Index of the endpoint that last answered: later calls start there. */
  private preferred = 0;

  /**
   * ipam.cluster.etcd as the config parsed it (config/cluster.ts: endpoints tried in this order) with its files
   * read and checked (config/secrets.ts), taken as it is.
   */
  constructor(config: EtcdAccess) {
    this.endpoints = config.endpoints;
    this.timeoutMs = config.timeoutMs;
    this.transport = new Transport(config.tls);
    this.credentials = config.credentials;
  }

  async range(r: RangeRequest): Promise<RangeResponse> {
    return rangeAnswer(await this.call('/v3/kv/range', rangeWire(r), false).then((a) => a.body));
  }

  async put(p: PutRequest): Promise<PutResponse> {
    return putAnswer(await this.call('/v3/kv/put', putWire(p), true).then((a) => a.body));
  }

  async deleteRange(d: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return deleteAnswer(await this.call('/v3/kv/deleterange', deleteWire(d), true).then((a) => a.body));
  }

  async txn(t: TxnRequest): Promise<TxnResponse> {
    const { body, retriedAfterUnknownOutcome } = await this.call('/v3/kv/txn', txnWire(t), writes(t));
    return { ...txnAnswer(body), retriedAfterUnknownOutcome };
  }

  /** The answering member's view of the cluster (its id in header.memberId, the leader's id in leader). */
  async status(): Promise<StatusResponse> {
    const { body: w } = await this.call('/v3/maintenance/status', {}, false);
    return {
      header: header(w.header),
      version: String(w.version ?? ''),
      leader: big(w.leader),
      raftIndex: big(w.raftIndex),
      raftTerm: big(w.raftTerm),
      dbSize: big(w.dbSize),
    };
  }

  close(): void {
    this.transport.close();
  }

  /**
   * Sends one request, moving on to the next endpoint when one refuses connections, says it is unavailable
   * or stays silent for its share of the time left. Rounds repeat while time is left and some member is
   * there but not answering yet (503 during an election, or silent); when every endpoint refuses
   * connections it fails at once instead of waiting out the budget.
   */
  private async call(path: string, payload: Wire, mutating: boolean): Promise<{ body: Wire; retriedAfterUnknownOutcome: boolean }> {
    const start = nowMs();
    const deadline = start + this.timeoutMs;
    const failures: AttemptFailure[] = [];
    const json = JSON.stringify(payload);
    let reauthenticated = false;
    for (let round = 0; ; round++) {
      let worthAnotherRound = false;
      const n = this.endpoints.length;
      for (let k = 0; k < n; k++) {
        const idx = (this.preferred + k) % n;
        const ep = this.endpoints[idx]!;
        const left = deadline - nowMs();
        if (left <= 0) break;
        // Each endpoint left in the round gets an equal share, so one silent member cannot use up the budget.
        const attemptEnd = nowMs() + Math.max(1, Math.floor(left / (n - k)));
        const attemptLeft = (): number => Math.max(1, Math.floor(attemptEnd - nowMs()));
        try {
          const headers: Record<string, string> = this.credentials ? { authorization: await this.authToken(ep, attemptLeft()) } : {};
          const answer = await this.transport.post(ep, path, json, headers, attemptLeft());
          const w = parseJson(answer.body);
          if (answer.status === 200 && w) {
            this.preferred = idx;
            return { body: w, retriedAfterUnknownOutcome: failures.some((f) => f.maybeApplied) };
          }
          const reason = reasonOf(answer.status, w, answer.body);
          if (answer.status === 401 && this.credentials && !reauthenticated) {
            // Tokens expire (simple tokens after 5 idle minutes) and are unknown to a member that has not
            // applied the authentication yet: authenticate once more and retry this endpoint.
            reauthenticated = true;
            this.token = undefined;
            failures.push({ endpoint: ep.url, reason, maybeApplied: false });
            k--;
            continue;
          }
          if (answer.status >= 500 || answer.status === 429) {
            const maybeApplied = mutating && !(answer.status === 503 && NOT_APPLIED.test(reason));
            failures.push({ endpoint: ep.url, reason, maybeApplied });
            worthAnotherRound ||= answer.status === 503;
            continue;
          }
          throw new EtcdRequestError(
            ep.url,
            answer.status,
            typeof w?.code === 'number' ? w.code : undefined,
            String(w?.message ?? w?.error ?? answer.body.slice(0, 200)),
          );
        } catch (e) {
          if (!(e instanceof AttemptError)) throw e;
          failures.push({ endpoint: e.endpoint, reason: e.reason, maybeApplied: mutating && e.maybeApplied });
          worthAnotherRound ||= e.timedOut;
        }
      }
      const left = deadline - nowMs();
      const pause = Math.min(50 << Math.min(round, 4), left);
      if (!worthAnotherRound || left <= pause + 1) throw new EtcdUnavailableError(failures, nowMs() - start, this.timeoutMs, mutating);
      await sleep(pause);
    }
  }

  /**
   * The auth token, authenticating against `ep` first when none is held (one raft round, ~90 ms). Calls made
   * meanwhile wait for the same authentication instead of starting their own.
   */
  private async authToken(ep: Endpoint, timeoutMs: number): Promise<string> {
    this.token ??= this.authenticate(ep, timeoutMs);
    const pending = this.token;
    try {
      return await pending;
    } catch (e) {
      if (this.token === pending) this.token = undefined;
      throw e;
    }
  }

  private async authenticate(ep: Endpoint, timeoutMs: number): Promise<string> {
    const { name, password } = this.credentials!;
    const answer = await this.transport.post(ep, '/v3/auth/authenticate', JSON.stringify(this.credentials), {}, timeoutMs);
    const w = parseJson(answer.body);
    if (answer.status === 200 && typeof w?.token === 'string') return w.token;
    // A peer may echo the request back: the password never reaches a message.
    const scrub = (text: string): string => text.split(password).join('(password)');
    if (answer.status >= 500 || answer.status === 429) throw new AttemptError(ep.url, scrub(`authenticate: ${reasonOf(answer.status, w, answer.body)}`), false);
    throw new EtcdRequestError(
      ep.url,
      answer.status,
      typeof w?.code === 'number' ? w.code : undefined,
      scrub(`authenticate as ${name}: ${w?.message ?? w?.error ?? answer.body.slice(0, 200)}`),
    );
  }
}
