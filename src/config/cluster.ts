// Meaning of ipam.cluster: which etcd, which pool of addresses, which node this is. Every rejection is
// code 7 naming the key. Endpoints are checked and parsed here, once: the etcd client takes them as they are.
// The password is only ever read from a file (config/secrets.ts), never written in the config, and never
// sent in the clear off the node.
import { CniError, Code } from '../base/errors.js';
import { isValidId } from '../base/ids.js';
import { absolutePath } from './paths.js';
import type { RawCluster } from './schema.js';

export const DEFAULT_PREFIX = '/leasehold';
export const DEFAULT_ETCD_TIMEOUT_MS = 5000;

/** Where requests go: a host and port, or a unix socket (plain http only). */
export type Endpoint = {
  /** As configured (it holds no credentials: those are refused), for messages. */
  url: string;
  https: boolean;
} & ({ hostname: string; port: number } | { socketPath: string });

export interface EtcdConf {
  /** Tried in this order. */
  endpoints: Endpoint[];
  /** Absolute paths, read when the client is built (config/secrets.ts); they apply to the https endpoints. */
  caFile?: string;
  /** With keyFile, always both or neither. */
  tls?: { certFile: string; keyFile: string };
  auth?: { username: string; passwordFile: string };
}

export interface ClusterConf {
  etcd: EtcdConf;
  /** Key prefix of everything leasehold keeps in etcd. */
  prefix: string;
  /** The key space of addresses: networks naming the same pool never hand out the same address. */
  pool: string;
  nodeName: string;
  /** Bounds every call to etcd as a whole, failover included. */
  timeoutMs: number;
  /**
   * What fails STATUS (docs/cluster.md, "STATUS and node readiness"): "node", conditions of this node alone;
   * "cluster", also etcd unreachable or the shared pool full, which then mark every node NotReady at once
   * ("node" when the config names none).
   */
  statusScope: StatusScope;
}

export type StatusScope = 'node' | 'cluster';

const bad = (key: string, msg: string): CniError => new CniError(Code.InvalidConfig, `ipam.cluster.${key} ${msg}`);

/** The full host name: `worker1.dc-a` and `worker1.dc-b` are two nodes (the machine id tells apart the rest). */
function hostName(): string {
  // node:os only in cluster mode: the disk path never pays for it.
  const { hostname } = require('node:os') as typeof import('node:os');
  return hostname();
}

/** An endpoint as it may be shown: whatever sits between "//" and the last "@" could be a password. */
const shown = (e: string): string => JSON.stringify(e.replace(/\/\/.*@/s, '//…@').slice(0, 200));

/** A plain-http endpoint that stays on this node: a password may go there in the clear. */
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/i;

export function parseEndpoint(e: string, i: number): Endpoint {
  const key = `etcd.endpoints[${i}]`;
  let url: URL;
  try {
    url = new URL(e);
  } catch {
    throw bad(key, `${shown(e)} is not a URL; write it as "https://10.0.0.1:2379" or "unix:///run/etcd.sock"`);
  }
  if (url.username || url.password) {
    throw bad(
      key,
      'holds a user name or password: write only scheme, host and port, the user in ipam.cluster.etcd.username and the password in a file named by passwordFile',
    );
  }
  if (url.search || url.hash) throw bad(key, `${shown(e)} must name only scheme, host and port`);
  // unix:///path is a node-local forwarder on a socket only root can open: plain http over it.
  if (url.protocol === 'unix:') {
    const socketPath = e.slice('unix://'.length);
    if (url.host !== '' || !socketPath.startsWith('/') || socketPath.includes('\0')) throw bad(key, `${shown(e)} must be unix:///absolute/path`);
    return { url: e, https: false, socketPath };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(key, `${shown(e)} must be http://, https:// or unix://`);
  if (url.pathname !== '/' && url.pathname !== '') throw bad(key, `${shown(e)} must name only scheme, host and port`);
  const https = url.protocol === 'https:';
  return { url: e, https, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : https ? 443 : 80 };
}

/** Whether a request to ep crosses a network in the clear: a password and its token must not. */
const isPlainRemote = (ep: Endpoint): boolean => !ep.https && 'hostname' in ep && !LOOPBACK.test(ep.hostname);

function buildEtcd(etcd: RawCluster['etcd'] & Record<string, unknown>): EtcdConf {
  if ('password' in etcd)
    throw bad('etcd.password', 'is not accepted: put the password in a file readable only by root and name it in ipam.cluster.etcd.passwordFile');
  const endpoints = etcd.endpoints.map(parseEndpoint);
  const path = (key: 'caFile' | 'certFile' | 'keyFile' | 'passwordFile'): string | undefined =>
    etcd[key] === undefined ? undefined : absolutePath(`ipam.cluster.etcd.${key}`, etcd[key]);
  const [caFile, certFile, keyFile, passwordFile] = [path('caFile'), path('certFile'), path('keyFile'), path('passwordFile')];
  const { username } = etcd;
  if ((certFile === undefined) !== (keyFile === undefined))
    throw bad(certFile ? 'etcd.keyFile' : 'etcd.certFile', 'is required with the other one: a client certificate needs its key');
  if ((username === undefined) !== (passwordFile === undefined)) throw bad(username ? 'etcd.passwordFile' : 'etcd.username', 'is required with the other one');
  // TLS files apply to the https endpoints; an http one (a node-local forwarder on loopback) may come first.
  if ((caFile !== undefined || certFile !== undefined) && !endpoints.some((e) => e.https)) {
    throw bad('etcd.endpoints', 'has no https:// endpoint, so caFile, certFile and keyFile would never be used');
  }
  const plain = endpoints.findIndex(isPlainRemote);
  if (username !== undefined && plain >= 0) {
    throw bad(
      `etcd.endpoints[${plain}]`,
      `${shown(etcd.endpoints[plain]!)} is plain http to another host, and the password would cross the network in the clear: use https://, a loopback address or a unix:// forwarder`,
    );
  }
  return {
    endpoints,
    ...(caFile !== undefined && { caFile }),
    ...(certFile !== undefined && keyFile !== undefined && { tls: { certFile, keyFile } }),
    ...(username !== undefined && passwordFile !== undefined && { auth: { username, passwordFile } }),
  };
}

export function buildCluster(raw: RawCluster & Record<string, unknown>, network: string): ClusterConf {
  const etcd = buildEtcd(raw.etcd as RawCluster['etcd'] & Record<string, unknown>);
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
  const statusScope = raw.statusScope ?? 'node';
  if (statusScope !== 'node' && statusScope !== 'cluster')
    throw bad('statusScope', `${JSON.stringify(String(statusScope).slice(0, 80))} must be "node" (the default) or "cluster"`);
  return {
    etcd,
    prefix: prefix.replace(/\/+$/, '') || DEFAULT_PREFIX,
    pool,
    nodeName,
    timeoutMs: raw.timeoutMs ?? DEFAULT_ETCD_TIMEOUT_MS,
    statusScope,
  };
}
