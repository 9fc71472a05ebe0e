// An etcd v3 client over the JSON gateway every etcd member serves on its client URL (/v3/kv/*), in layers as
// etcd's Go client has them: the KV calls leasehold makes (here), their JSON (gateway-json.ts), the retry policy
// across endpoints (failover.ts), auth (auth.ts), and one HTTP attempt (transport.ts, http1.ts). The npm etcd3
// client is not used: it is slow to import and cannot be bundled into one executable (docs/performance.md).
import type { EtcdAccess } from '../config/secrets.js';
import { Auth } from './auth.js';
import { Failover } from './failover.js';
import { rangeAnswer, rangeWire, txnAnswerTo, txnWire } from './gateway-json.js';
import type { RangeRequest, RangeResponse, TxnRequest, TxnResponse } from './kv-types.js';
import { type Sockets, Transport } from './transport.js';

/** Whether a txn can change anything: a read-only one never has an unknown outcome. */
const writes = (t: TxnRequest): boolean =>
  [...t.success, ...(t.failure ?? [])].some((op) => 'put' in op || 'deleteRange' in op || ('txn' in op && writes(op.txn)));

export class EtcdClient {
  private readonly failover: Failover;

  /**
   * ipam.cluster.etcd as the config parsed it (config/cluster.ts: endpoints tried in this order) with its files
   * read and checked (config/secrets.ts), taken as it is; `sockets` says which implementation carries the
   * attempts (transport.ts), chosen by whoever builds the client; no call runs past `until` (nowMs), which
   * bounds all of them together where a timer could not: the addon's blocking calls hold the event loop.
   */
  constructor(config: EtcdAccess, sockets: Sockets, until?: number) {
    const transport = new Transport(config.tls, sockets);
    const auth = config.credentials && new Auth(transport, config.credentials);
    this.failover = new Failover(config.endpoints, config.timeoutMs, transport, auth, until);
  }

  range(r: RangeRequest): Promise<RangeResponse> {
    return this.failover.call('/v3/kv/range', rangeWire(r), false, rangeAnswer);
  }

  txn(t: TxnRequest): Promise<TxnResponse> {
    return this.failover.call('/v3/kv/txn', txnWire(t), writes(t), txnAnswerTo(t));
  }
}
