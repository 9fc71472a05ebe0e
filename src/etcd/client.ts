// An etcd v3 client over the JSON gateway every etcd member serves on its client URL (/v3/kv/*), with
// node:net/node:tls only (transport.ts): the npm etcd3 client costs ~300 ms to import and cannot be bundled
// into one executable. Every call is bounded as a whole by timeoutMs across endpoint failover.
import { nowMs } from '../base/proc.js';
import type { Endpoint } from '../config/cluster.js';
import type { EtcdAccess } from '../config/secrets.js';
import { EtcdRequestError, EtcdUnavailableError, type AttemptFailure } from './errors.js';
import { fromBase64, toBase64, type Bytes } from './keys.js';
import { isHeaderValue } from './http1.js';
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

// ---- answers, decoded by type: what etcd would not send is a malformed answer, never a TypeError ----

/** An answer of the wrong shape: the call counts it as a failed attempt, as when no answer came. */
class MalformedAnswer extends Error {}

const bad = (what: string, v: unknown): MalformedAnswer => new MalformedAnswer(`${what} is ${JSON.stringify(v)?.slice(0, 60)}`);

const isObject = (v: unknown): v is Wire => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A message; the gateway omits empty ones. */
const message = (v: unknown, what: string): Wire => {
  if (v === undefined) return {};
  if (!isObject(v)) throw bad(what, v);
  return v;
};

/** A 64-bit unsigned integer: a decimal string, as the gateway writes them, or a safe integer; omitted: 0. */
function u64(v: unknown, what: string): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v) && BigInt(v) < 1n << 64n) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw bad(what, v);
}

function bool(v: unknown, what: string): boolean {
  if (v === undefined || typeof v === 'boolean') return v === true;
  throw bad(what, v);
}

function text(v: unknown, what: string): string {
  if (v === undefined || typeof v === 'string') return v ?? '';
  throw bad(what, v);
}

/** Bytes as the gateway carries them: standard base64. */
function bytes(v: unknown, what: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw bad(what, v);
  return fromBase64(v);
}

function list<T>(v: unknown, what: string, item: (x: unknown, what: string) => T): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(what, v);
  return v.map((x, i) => item(x, `${what}[${i}]`));
}

const header = (v: unknown, what: string): ResponseHeader => {
  const h = message(v, what);
  return {
    clusterId: u64(h.cluster_id, `${what}.cluster_id`),
    memberId: u64(h.member_id, `${what}.member_id`),
    revision: u64(h.revision, `${what}.revision`),
    raftTerm: u64(h.raft_term, `${what}.raft_term`),
  };
};

const keyValue = (v: unknown, what: string): KeyValue => {
  const kv = message(v, what);
  return {
    key: bytes(kv.key, `${what}.key`),
    value: bytes(kv.value, `${what}.value`),
    createRevision: u64(kv.create_revision, `${what}.create_revision`),
    modRevision: u64(kv.mod_revision, `${what}.mod_revision`),
    version: u64(kv.version, `${what}.version`),
  };
};

/** The answer as a whole is a JSON object (null, an array or a number is no answer of etcd's). */
const answerObject = (v: unknown, what: string): Wire => {
  if (!isObject(v)) throw bad(what, v);
  return v;
};

const rangeAnswer = (v: unknown, what = 'the answer'): RangeResponse => {
  const w = answerObject(v, what);
  return {
    header: header(w.header, `${what}.header`),
    kvs: list(w.kvs, `${what}.kvs`, keyValue),
    more: bool(w.more, `${what}.more`),
    count: u64(w.count, `${what}.count`),
  };
};
const putAnswer = (v: unknown, what = 'the answer'): PutResponse => {
  const w = answerObject(v, what);
  return { header: header(w.header, `${what}.header`), ...(w.prev_kv !== undefined && { prevKv: keyValue(w.prev_kv, `${what}.prev_kv`) }) };
};
const deleteAnswer = (v: unknown, what = 'the answer'): DeleteRangeResponse => {
  const w = answerObject(v, what);
  return { header: header(w.header, `${what}.header`), deleted: u64(w.deleted, `${what}.deleted`), prevKvs: list(w.prev_kvs, `${what}.prev_kvs`, keyValue) };
};
const txnAnswer = (v: unknown, what = 'the answer'): NestedTxnResponse => {
  const w = answerObject(v, what);
  return {
    header: header(w.header, `${what}.header`),
    succeeded: bool(w.succeeded, `${what}.succeeded`),
    responses: list(w.responses, `${what}.responses`, opAnswer),
  };
};
const statusAnswer = (v: unknown, what = 'the answer'): StatusResponse => {
  const w = answerObject(v, what);
  return {
    header: header(w.header, `${what}.header`),
    version: text(w.version, `${what}.version`),
    leader: u64(w.leader, `${what}.leader`),
    raftIndex: u64(w.raftIndex, `${what}.raftIndex`),
    raftTerm: u64(w.raftTerm, `${what}.raftTerm`),
    dbSize: u64(w.dbSize, `${what}.dbSize`),
  };
};

/** One operation's answer within a txn: exactly one of the four kinds. */
function opAnswer(v: unknown, what: string): ResponseOp {
  const w = answerObject(v, what);
  const kinds = ['response_range', 'response_put', 'response_delete_range', 'response_txn'].filter((k) => w[k] !== undefined);
  if (kinds.length !== 1) throw bad(what, v);
  if (kinds[0] === 'response_range') return { range: rangeAnswer(w.response_range, `${what}.response_range`) };
  if (kinds[0] === 'response_put') return { put: putAnswer(w.response_put, `${what}.response_put`) };
  if (kinds[0] === 'response_delete_range') return { deleteRange: deleteAnswer(w.response_delete_range, `${what}.response_delete_range`) };
  return { txn: txnAnswer(w.response_txn, `${what}.response_txn`) };
}

/** A txn's answer holds one response per operation of the branch that ran, each of its kind (nested txns alike). */
function matchTxn(t: TxnRequest, r: NestedTxnResponse, what: string): NestedTxnResponse {
  const ops = r.succeeded ? t.success : (t.failure ?? []);
  if (r.responses.length !== ops.length) throw new MalformedAnswer(`${what} holds ${r.responses.length} responses for ${ops.length} operations`);
  ops.forEach((op, i) => {
    const res = r.responses[i]!;
    const kind = Object.keys(op)[0] as keyof typeof op;
    if (!(kind in res)) throw new MalformedAnswer(`${what}.responses[${i}] answers no ${kind}`);
    if ('txn' in op && 'txn' in res) matchTxn(op.txn, res.txn, `${what}.responses[${i}].response_txn`);
  });
  return r;
}

// ---- failure classification ----

/**
 * 503 answers in which etcd says it did not propose the request. Any other 5xx (above all "request timed
 * out", what a write gets when quorum is lost) may have been committed.
 */
const NOT_APPLIED = /no leader|too many requests|not capable|unhealthy cluster/i;

/** What an error answer says: the gateway's message (or error), else the start of the body. */
const saidIn = (w: unknown, body: string): string =>
  isObject(w) && typeof (w.message ?? w.error) === 'string' ? String(w.message ?? w.error) : body.slice(0, 200);
const grpcCodeIn = (w: unknown): number | undefined => (isObject(w) && Number.isInteger(w.code) ? w.code : undefined);
const reasonOf = (status: number, w: unknown, body: string): string => `HTTP ${status}: ${saidIn(w, body)}`;
/** etcd's gateway answers 200, or an error status: a 1xx-3xx other than 200 comes from something else. */
const notEtcds = (status: number): string => `HTTP ${status} is not an answer etcd gives`;

/** The body as JSON; undefined when it is not JSON. */
function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
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
    return (await this.call('/v3/kv/range', rangeWire(r), false, rangeAnswer)).answer;
  }

  async put(p: PutRequest): Promise<PutResponse> {
    return (await this.call('/v3/kv/put', putWire(p), true, putAnswer)).answer;
  }

  async deleteRange(d: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return (await this.call('/v3/kv/deleterange', deleteWire(d), true, deleteAnswer)).answer;
  }

  async txn(t: TxnRequest): Promise<TxnResponse> {
    const { answer, retriedAfterUnknownOutcome } = await this.call('/v3/kv/txn', txnWire(t), writes(t), (w) => matchTxn(t, txnAnswer(w), 'the answer'));
    return { ...answer, retriedAfterUnknownOutcome };
  }

  /** The answering member's view of the cluster (its id in header.memberId, the leader's id in leader). */
  async status(): Promise<StatusResponse> {
    return (await this.call('/v3/maintenance/status', {}, false, statusAnswer)).answer;
  }

  close(): void {
    this.transport.close();
  }

  /**
   * Sends one request, moving on to the next endpoint when one refuses connections, says it is unavailable
   * or stays silent for its share of the time left. Rounds repeat while time is left and some member is
   * there but not answering yet (503 during an election, or silent); when every endpoint refuses
   * connections it fails at once instead of waiting out the budget. An answer of the wrong shape counts as
   * a failed attempt, as no answer does (a write's may have been applied); a connection kept from an earlier
   * call that turns out stale is retried once on a new one.
   */
  private async call<T>(
    path: string,
    payload: Wire,
    mutating: boolean,
    decode: (w: unknown) => T,
  ): Promise<{ answer: T; retriedAfterUnknownOutcome: boolean }> {
    const start = nowMs();
    const deadline = start + this.timeoutMs;
    const failures: AttemptFailure[] = [];
    const json = JSON.stringify(payload);
    let reauthenticated = false;
    let reconnected = false;
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
          if (answer.status === 200) {
            let decoded: T;
            try {
              decoded = decode(w);
            } catch (e) {
              if (!(e instanceof MalformedAnswer)) throw e;
              failures.push({ endpoint: ep.url, reason: `unreadable answer: ${e.message}`, maybeApplied: mutating });
              continue;
            }
            this.preferred = idx;
            return { answer: decoded, retriedAfterUnknownOutcome: failures.some((f) => f.maybeApplied) };
          }
          if (answer.status < 400) {
            failures.push({ endpoint: ep.url, reason: `unreadable answer: ${notEtcds(answer.status)}`, maybeApplied: mutating });
            continue;
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
          throw new EtcdRequestError(ep.url, answer.status, grpcCodeIn(w), saidIn(w, answer.body));
        } catch (e) {
          if (!(e instanceof AttemptError)) throw e;
          failures.push({ endpoint: e.endpoint, reason: e.reason, maybeApplied: mutating && e.maybeApplied });
          if (e.staleConnection && !reconnected) {
            reconnected = true;
            k--;
            continue;
          }
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
    if (answer.status === 200) {
      // The token goes into a header of every later request: one with CR or LF would inject others.
      const token = isObject(w) ? w.token : undefined;
      if (typeof token === 'string' && token !== '' && isHeaderValue(token)) return token;
      throw new AttemptError(ep.url, 'unreadable answer: authenticate gave no usable token', false);
    }
    // A peer may echo the request back: the password never reaches a message.
    const scrub = (text: string): string => text.split(password).join('(password)');
    if (answer.status < 400) throw new AttemptError(ep.url, `unreadable answer: authenticate: ${notEtcds(answer.status)}`, false);
    if (answer.status >= 500 || answer.status === 429) throw new AttemptError(ep.url, scrub(`authenticate: ${reasonOf(answer.status, w, answer.body)}`), false);
    throw new EtcdRequestError(ep.url, answer.status, grpcCodeIn(w), scrub(`authenticate as ${name}: ${saidIn(w, answer.body)}`));
  }
}
