// The gateway's JSON, mapped by type: requests encoded as it reads them, answers decoded strictly (what etcd
// would not send is a MalformedAnswer, never a TypeError), and what an error answer says.
import { fromBase64, toBase64 } from './keys.js';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from './kv-types.js';

// ---- requests: base64 bytes, 64-bit integers as strings, zero/false/empty fields omitted ----

// biome-ignore lint/suspicious/noExplicitAny: the gateway's JSON, read field by field with a default for each
export type Wire = Record<string, any>;

export const rangeWire = (r: RangeRequest): Wire => ({
  key: toBase64(r.key),
  ...(r.rangeEnd !== undefined && { range_end: toBase64(r.rangeEnd) }),
  ...(r.limit !== undefined && { limit: String(r.limit) }),
  ...(r.keysOnly && { keys_only: true }),
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

export const txnWire = (t: TxnRequest): Wire => ({
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
export class MalformedAnswer extends Error {}

const bad = (what: string, v: unknown): MalformedAnswer => new MalformedAnswer(`${what} is ${JSON.stringify(v)?.slice(0, 60)}`);

export const isObject = (v: unknown): v is Wire => typeof v === 'object' && v !== null && !Array.isArray(v);

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

export const rangeAnswer = (v: unknown, what = 'the answer'): RangeResponse => {
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
const txnAnswer = (v: unknown, what = 'the answer'): TxnResponse => {
  const w = answerObject(v, what);
  return {
    header: header(w.header, `${what}.header`),
    succeeded: bool(w.succeeded, `${what}.succeeded`),
    responses: list(w.responses, `${what}.responses`, opAnswer),
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
function matchTxn(t: TxnRequest, r: TxnResponse, what: string): TxnResponse {
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

/** The decoder of an answer to `t`: a txn's answer, matched against the operations asked. */
export function txnAnswerTo(t: TxnRequest): (v: unknown) => TxnResponse {
  return (v) => matchTxn(t, txnAnswer(v), 'the answer');
}

// ---- error answers ----

/** What an error answer says: the gateway's message (or error), else the start of the body. */
export const saidIn = (w: unknown, body: string): string =>
  isObject(w) && typeof (w.message ?? w.error) === 'string' ? String(w.message ?? w.error) : body.slice(0, 200);
export const grpcCodeIn = (w: unknown): number | undefined => (isObject(w) && Number.isInteger(w.code) ? w.code : undefined);
export const reasonOf = (status: number, w: unknown, body: string): string => `HTTP ${status}: ${saidIn(w, body)}`;
/** etcd's gateway answers 200, or an error status: a 1xx-3xx other than 200 comes from something else. */
export const notEtcds = (status: number): string => `HTTP ${status} is not an answer etcd gives`;

/** The body as JSON; undefined when it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
