// The one place that turns stdin + CNI_ARGS into a validated, normalized network config.
import type { CniArgs } from './cni-args.js';
import { CniError, Code } from '../base/errors.js';
import { type Attachment, isValidId } from '../base/ids.js';
import { atLeast, isSupported } from '../base/versions.js';
import { type Ip, parseCidr, parseIp } from '../net/ip.js';
import type { RangeSet } from '../net/range.js';
import type { SpanSet } from '../net/spans.js';
import { type ClusterConf, buildCluster } from './cluster.js';
import { absolutePath, writablePath } from './paths.js';
import { LIMITS, buildExcludes, buildRangeSets } from './ranges.js';
import { annotatedIps } from './annotations.js';
import { IPS_ANNOTATION, POD_ANNOTATIONS, type RawRoute, validateNetConf } from './schema.js';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

export interface NetConf {
  name: string;
  cniVersion: string;
  dataDir: string;
  rangeSets: RangeSet[];
  exclude: SpanSet;
  routes: RawRoute[];
  /** Read on ADD only, so a missing file never blocks DEL. */
  resolvConf: string | undefined;
  /**
   * Addresses the runtime asked for (runtimeConfig.ips, then args.cni.ips or else CNI_ARGS IP, then the pod
   * annotation leasehold.io/ips), prefix dropped.
   */
  requested: Ip[];
  /** A request that cannot be read from the pod's annotation: ADD fails with it; DEL, CHECK and GC do not read it. */
  requestProblem: CniError | undefined;
  /** ipam.sticky: a deleted pod's addresses are held for its next attachment this long. */
  holdSeconds: number | undefined;
  /** ipam.reuseCooldownSeconds: a freed address waits this long while others are free (0: off). */
  cooldownSeconds: number;
  lockTimeoutMs: number;
  reclaimStaleBoot: boolean;
  logFile: string | undefined;
  logMaxBytes: number;
  prevResultAddresses: string[] | undefined;
  validAttachments: Attachment[] | undefined;
  /** Cluster mode: the pool lives on etcd, shared by every node; undefined for the node's own disk. */
  cluster: ClusterConf | undefined;
}

export function parseJson(stdin: string): unknown {
  if (stdin.trim() === '') throw new CniError(Code.DecodeFailure, 'no network config on stdin: the runtime must pass the network config as JSON');
  try {
    return JSON.parse(stdin);
  } catch (e) {
    throw new CniError(Code.DecodeFailure, `network config on stdin is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
}

export function loadNetConf(stdin: string, cniArgs: CniArgs): NetConf {
  const raw = validateNetConf(parseJson(stdin));
  const cniVersion = raw.cniVersion || '0.1.0';
  if (!isSupported(cniVersion)) {
    throw new CniError(Code.IncompatibleVersion, `cniVersion ${JSON.stringify(cniVersion).slice(0, 40)} is not supported; use one of 0.1.0 to 1.1.0`);
  }
  if (!isValidId(raw.name)) {
    throw new CniError(
      Code.InvalidConfig,
      `network name ${JSON.stringify(raw.name.slice(0, 80))} is invalid: use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  if (raw.name.length > LIMITS.networkName) {
    throw new CniError(
      Code.InvalidConfig,
      `network name ${JSON.stringify(`${raw.name.slice(0, 40)}...`)} is ${raw.name.length} characters long; at most ${LIMITS.networkName} are allowed (it names a directory)`,
    );
  }
  const ipam = raw.ipam;

  // host-local's order: runtime ipRanges first, then the legacy single range, then ipam.ranges.
  const rawSets: Array<{ set: NonNullable<typeof ipam.ranges>[number]; where: string }> = [];
  for (const [i, set] of (raw.runtimeConfig?.ipRanges ?? []).entries()) rawSets.push({ set, where: `runtimeConfig.ipRanges[${i}]` });
  if (ipam.subnet !== undefined) {
    const { subnet, rangeStart, rangeEnd, gateway } = ipam;
    rawSets.push({ set: [{ subnet, rangeStart, rangeEnd, gateway }], where: 'ipam' });
  }
  for (const [i, set] of (ipam.ranges ?? []).entries()) rawSets.push({ set, where: `ipam.ranges[${i}]` });
  if (rawSets.length === 0) throw new CniError(Code.InvalidConfig, 'ipam has no ranges: set ipam.ranges (or the legacy ipam.subnet)');
  const rangeSets = buildRangeSets(
    rawSets.map((s) => s.set),
    (i) => rawSets[i]!.where,
  );

  if (!atLeast(cniVersion, '0.3.0')) {
    for (const fam of [4, 6]) {
      if (rangeSets.filter((s) => s[0]!.family === fam).length > 1) {
        throw new CniError(Code.InvalidConfig, `cniVersion ${cniVersion} allows one IPv${fam} address; use cniVersion 0.3.0 or later for more range sets`);
      }
    }
  }

  const dataDir = writablePath('ipam.dataDir', ipam.dataDir ?? DEFAULT_DATA_DIR, DEFAULT_DATA_DIR);
  const logFile = ipam.logFile === undefined ? undefined : writablePath('ipam.logFile', ipam.logFile, '/var/log/leasehold.log');
  // Only a log's name: the .d directories of cron, sudo, systemd and their like skip names with a dot.
  if (logFile !== undefined && !/[^/]\.(log|jsonl)$/.test(logFile)) {
    throw new CniError(Code.InvalidConfig, `ipam.logFile ${JSON.stringify(logFile.slice(0, 200))} must end in .log or .jsonl, such as /var/log/leasehold.log`);
  }

  (ipam.routes ?? []).forEach((r, i) => {
    try {
      parseCidr(r.dst);
      if (r.gw !== undefined) parseIp(r.gw);
    } catch (e) {
      throw new CniError(Code.InvalidConfig, `ipam.routes[${i}]: ${(e as Error).message}`);
    }
  });

  // CONVENTIONS.md: when args.cni.ips is given, CNI_ARGS IP is ignored.
  const argIps = raw.args?.cni?.ips;
  const requestedText = [...(raw.runtimeConfig?.ips ?? []), ...(argIps ?? cniArgs.ips)];
  const requested: Ip[] = [];
  const seen = new Set<string>();
  const request = (ip: Ip): void => {
    const key = `${ip.family}/${ip.value}`;
    if (!seen.has(key)) requested.push(ip);
    seen.add(key);
  };
  for (const text of requestedText) {
    try {
      request(parseIp(text));
    } catch (e) {
      throw new CniError(Code.InvalidConfig, `requested address: ${(e as Error).message}`);
    }
  }
  // One address per range set is given, so more than the most range sets can never be served; each one is
  // looked up in the store under the lock when a request fails.
  if (requested.length > LIMITS.rangeSets) {
    throw new CniError(
      Code.InvalidConfig,
      `${requested.length} addresses are requested (runtimeConfig.ips, args.cni.ips or CNI_ARGS IP); at most ${LIMITS.rangeSets} may be, one per range set`,
    );
  }
  // The pod annotation names at most one address per family; only ADD reads it (requestProblem).
  let requestProblem: CniError | undefined;
  try {
    annotatedIps(raw.runtimeConfig?.[POD_ANNOTATIONS]?.[IPS_ANNOTATION]).forEach(request);
  } catch (e) {
    requestProblem = e as CniError;
  }

  const valid = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  return {
    name: raw.name,
    cniVersion,
    dataDir,
    rangeSets,
    exclude: buildExcludes(ipam.exclude ?? []),
    routes: ipam.routes ?? [],
    resolvConf: ipam.resolvConf === undefined ? undefined : absolutePath('ipam.resolvConf', ipam.resolvConf),
    requested,
    requestProblem,
    holdSeconds: ipam.sticky?.holdSeconds,
    cooldownSeconds: ipam.reuseCooldownSeconds ?? 0,
    lockTimeoutMs: ipam.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    reclaimStaleBoot: ipam.reclaimStaleBoot ?? true,
    logFile,
    logMaxBytes: ipam.logMaxBytes ?? 10 * 1024 * 1024,
    prevResultAddresses: raw.prevResult?.ips?.map((i) => i.address),
    validAttachments: valid?.map(({ containerID, ifname }) => ({ containerID, ifname })),
    cluster: ipam.cluster ? buildCluster(ipam.cluster, raw.name) : undefined,
  };
}
