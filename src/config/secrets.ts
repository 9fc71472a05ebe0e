// The files ipam.cluster.etcd names, read when the etcd client is built: the CA and the client certificate
// (root's, writable by root only), the client key and the password file (secrets: root's alone, as OpenSSH
// demands of keys). A file that breaks its rule is code 7 naming the key and the path, never the contents.
import type { SecureContext } from 'node:tls';
import { CniError, Code } from '../base/errors.js';
import { FileRefused, type FileRule, readByRule } from '../base/files.js';
import type { ClusterConf, Endpoint } from './cluster.js';

/** Everything the etcd client needs, read and checked. */
export interface EtcdAccess {
  endpoints: Endpoint[];
  tls: { secureContext?: SecureContext };
  credentials?: { name: string; password: string };
  /** Bounds every call as a whole, failover and authentication included. */
  timeoutMs: number;
}

const PUBLIC: FileRule = { followLinks: true, owner: 'root', maxBytes: 1 << 20 };
const SECRET: FileRule = { followLinks: false, owner: 'secret', maxBytes: 64 << 10 };

function read(key: string, path: string, rule: FileRule): Buffer {
  try {
    return readByRule(path, rule);
  } catch (e) {
    if (!(e instanceof FileRefused)) throw e;
    const fix =
      rule === SECRET
        ? 'it must be a regular file (not a link) owned by root with mode 0600 or 0400'
        : 'it must be a regular file owned by root and writable by root only';
    throw new CniError(Code.InvalidConfig, `ipam.cluster.etcd.${key} ${e.message}: ${fix}`, `ipam.cluster.etcd.${key}`);
  }
}

export function etcdAccess(cluster: ClusterConf): EtcdAccess {
  const { endpoints, caFile, tls, auth } = cluster.etcd;
  const access: EtcdAccess = { endpoints, tls: {}, timeoutMs: cluster.timeoutMs };
  if (caFile !== undefined || tls) {
    const ca = caFile === undefined ? undefined : read('caFile', caFile, PUBLIC);
    // node:tls would take a CA without a certificate in it and fail every handshake later.
    if (caFile !== undefined && !ca!.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CniError(
        Code.InvalidConfig,
        `ipam.cluster.etcd.caFile ${caFile} holds no PEM certificate: name the CA of etcd's certificates`,
        'ipam.cluster.etcd.caFile',
      );
    }
    const pair = tls && { cert: read('certFile', tls.certFile, PUBLIC), key: read('keyFile', tls.keyFile, SECRET) };
    // One context for every connection: parsed here once (node:tls would parse the files again for each), and a
    // certificate and key that do not parse or do not match are refused naming the key, not at each connection.
    const { createSecureContext } = require('node:tls') as typeof import('node:tls');
    try {
      access.tls.secureContext = createSecureContext({ ...(ca && { ca }), ...pair });
    } catch (e) {
      // OpenSSL's reason ("PEM routines::no start line"), never the material.
      const why = String((e as Error).message).replace(/^error:[0-9A-F]+:/, '');
      const [key, path] = tls ? ['certFile', `${tls.certFile} (with keyFile ${tls.keyFile})`] : ['caFile', caFile];
      throw new CniError(
        Code.InvalidConfig,
        `ipam.cluster.etcd.${key} ${path} cannot be used (${why}): name PEM files that belong together`,
        `ipam.cluster.etcd.${key}`,
      );
    }
  }
  if (auth) {
    // One trailing newline is the file's, not the password's (echo > file).
    const password = read('passwordFile', auth.passwordFile, SECRET)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (!password)
      throw new CniError(
        Code.InvalidConfig,
        `ipam.cluster.etcd.passwordFile ${auth.passwordFile} is empty: write the password of ipam.cluster.etcd.username in it`,
      );
    access.credentials = { name: auth.username, password };
  }
  return access;
}
