// etcd's KV requests and answers as leasehold uses them: etcdserverpb's range and txn (with the put, delete and
// nested txn operations a txn holds). 64-bit integers (revisions, versions, counts, ids) are bigint throughout.
import type { Bytes } from './keys.js';

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
export type ResponseOp = { range: RangeResponse } | { put: PutResponse } | { deleteRange: DeleteRangeResponse } | { txn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  /** The answers of the branch that ran, in order. */
  responses: ResponseOp[];
}
