// Meaning of ipam.cluster: which etcd, which pool of addresses, which node this is. Every rejection is
// code 7 naming the key. The password is only ever read from a file, never written in the config.
import { CniError, Code } from '../base/errors.js';
import { isValidId } from '../base/ids.js';
import type { RawCluster } from './schema.js';

export const DEFAULT_PREFIX = '/leasehold';
export const DEFAULT_ETCD_TIMEOUT_MS = 5000;

export interface ClusterConf {
  etcd: RawCluster['etcd'];
  /** Key prefix of everything leasehold keeps in etcd. */
  prefix: string;
  /** The key space of addresses: networks naming the same pool never hand out the same address. */
  pool: string;
  nodeName: string;
  /** Bounds every call to etcd as a whole, failover included. */
  timeoutMs: number;
}

const bad = (key: string, msg: string): CniError => new CniError(Code.InvalidConfig, `ipam.cluster.${key} ${msg}`);

/** The full host name: `worker1.dc-a` and `worker1.dc-b` are two nodes (the machine id tells apart the rest). */
function hostName(): string {
  // node:os only in cluster mode: the disk path never pays for it.
  const { hostname } = require('node:os') as typeof import('node:os');
  return hostname();
}

export function buildCluster(raw: RawCluster & Record<string, unknown>, network: string): ClusterConf {
  const etcd = raw.etcd as RawCluster['etcd'] & Record<string, unknown>;
  if ('password' in etcd)
    throw bad('etcd.password', 'is not accepted: put the password in a file readable only by root and name it in ipam.cluster.etcd.passwordFile');
  etcd.endpoints.forEach((e, i) => {
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw bad(`etcd.endpoints[${i}]`, `${JSON.stringify(e.slice(0, 200))} is not a URL; write e.g. "https://10.0.0.1:2379"`);
    }
    // unix:///path is a node-local forwarder on a socket only root can open.
    if (url.protocol === 'unix:') {
      if (!url.pathname.startsWith('/') || url.host !== '') throw bad(`etcd.endpoints[${i}]`, `${e} must be unix:///absolute/path`);
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`etcd.endpoints[${i}]`, `${e} must be http://, https:// or unix://`);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw bad(`etcd.endpoints[${i}]`, `${e} must name only scheme, host and port`);
  });
  for (const key of ['caFile', 'certFile', 'keyFile', 'passwordFile'] as const) {
    const v = etcd[key];
    if (v !== undefined && !v.startsWith('/')) throw bad(`etcd.${key}`, `${JSON.stringify(v.slice(0, 200))} must be an absolute path`);
  }
  if ((etcd.certFile === undefined) !== (etcd.keyFile === undefined))
    throw bad(etcd.certFile ? 'etcd.keyFile' : 'etcd.certFile', 'is required with the other one: a client certificate needs its key');
  if ((etcd.username === undefined) !== (etcd.passwordFile === undefined))
    throw bad(etcd.username ? 'etcd.passwordFile' : 'etcd.username', 'is required with the other one');
  // TLS files apply to the https endpoints; an http one (a node-local forwarder on loopback) may come first.
  if ((etcd.caFile !== undefined || etcd.certFile !== undefined) && !etcd.endpoints.some((e) => e.startsWith('https:'))) {
    throw bad('etcd.endpoints', 'has no https:// endpoint, so caFile, certFile and keyFile would never be used');
  }
  const prefix = raw.prefix ?? DEFAULT_PREFIX;
  if (!/^\/[A-Za-z0-9_.\-/]*$/.test(prefix) || prefix.includes('//') || prefix.length > 200) {
    throw bad('prefix', `${JSON.stringify(prefix.slice(0, 200))} must start with "/" and use letters, digits, "_", ".", "-" and "/"`);
  }
  const pool = raw.pool ?? network;
  if (!isValidId(pool))
    throw bad('pool', `${JSON.stringify(pool.slice(0, 80))} is invalid: use letters, digits, "_", "." and "-", starting with a letter or digit`);
  const nodeName = raw.nodeName ?? hostName();
  if (!isValidId(nodeName))
    throw bad('nodeName', `${JSON.stringify(nodeName.slice(0, 80))} is invalid: use letters, digits, "_", "." and "-"; set it when the host name does not fit`);
  const { endpoints, caFile, certFile, keyFile, username, passwordFile } = etcd;
  return {
    etcd: { endpoints, caFile, certFile, keyFile, username, passwordFile },
    prefix: prefix.replace(/\/+$/, '') || DEFAULT_PREFIX,
    pool,
    nodeName,
    timeoutMs: raw.timeoutMs ?? DEFAULT_ETCD_TIMEOUT_MS,
  };
}
