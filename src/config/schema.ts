// The shape of the network config on stdin. Only types are checked here; meaning (CIDRs, overlaps,
// families) is checked in ranges.ts and cluster.ts. Written by hand rather than with a schema library: this
// runs on every plugin call, and loading zod/mini was a measurable part of each call's start-up (docs/performance.md).
// Objects are loose (unknown keys pass through), and the messages are those operators already know:
// `ipam.ranges[0][1].subnet must be string`.
import { CniError, Code } from '../base/errors.js';

// Type aliases, not interfaces: unknown keys are kept, and routes and the cluster object are passed on as
// Record<string, unknown>, which an alias is assignable to.
/** The runtimeConfig key under which containerd's CRI passes the pod's annotations (the plugin's capability). */
export const POD_ANNOTATIONS = 'io.kubernetes.cri.pod-annotations';
/** The pod annotation that names the pod's addresses. */
export const IPS_ANNOTATION = 'leasehold.io/ips';
/** The longest hold and cooldown: a year, and a day. */
export const MAX_HOLD_SECONDS = 31_536_000;
export const MAX_COOLDOWN_SECONDS = 86_400;

export type RawRange = {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
};

export type RawRoute = {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
};

/** Cluster mode: one address pool shared by many nodes, kept on etcd (config/cluster.ts gives the meaning). */
export type RawCluster = {
  etcd: {
    endpoints: string[];
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    username?: string;
    passwordFile?: string;
  };
  prefix?: string;
  pool?: string;
  nodeName?: string;
  timeoutMs?: number;
  statusScope?: string;
};

export type RawAttachment = {
  containerID: string;
  ifname: string;
};

export type RawNetConf = {
  cniVersion?: string;
  name: string;
  ipam: {
    type?: string;
    // The legacy single-range keys, kept for host-local parity.
    subnet?: string;
    rangeStart?: string;
    rangeEnd?: string;
    gateway?: string;
    ranges?: RawRange[][];
    routes?: RawRoute[];
    dataDir?: string;
    resolvConf?: string;
    exclude?: string[];
    lockTimeoutMs?: number;
    reclaimStaleBoot?: boolean;
    logFile?: string;
    logMaxBytes?: number;
    cluster?: RawCluster;
    sticky?: { holdSeconds: number };
    reuseCooldownSeconds?: number;
  };
  runtimeConfig?: { ips?: string[]; ipRanges?: RawRange[][]; [POD_ANNOTATIONS]?: Record<string, unknown> & { [IPS_ANNOTATION]?: string } };
  args?: { cni?: { ips?: string[] } };
  prevResult?: { ips?: Array<{ address: string }> };
  'cni.dev/valid-attachments'?: RawAttachment[];
  'cni.dev/attachments'?: RawAttachment[];
};

/** Checks a value found at `at` (a key path such as `ipam.ranges[0]`), adding one line per problem to `out`. */
type Check = (v: unknown, at: string, out: string[]) => void;

const key = (at: string, k: string): string => (at ? `${at}.${k}` : k);
const wrongType = (v: unknown, expected: string, at: string, out: string[]): void => {
  out.push(`${at || 'config'} ${v === undefined ? `is required (${expected})` : `must be ${expected}`}`);
};

const str: Check = (v, at, out) => {
  if (typeof v !== 'string') wrongType(v, 'string', at, out);
};
const bool: Check = (v, at, out) => {
  if (typeof v !== 'boolean') wrongType(v, 'boolean', at, out);
};
const opt =
  (check: Check): Check =>
  (v, at, out) => {
    if (v !== undefined) check(v, at, out);
  };

/** A JSON number that is a safe integer, within [min, max] when given; every bound it breaks is reported. */
const int =
  (min?: number, max?: number): Check =>
  (v, at, out) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return wrongType(v, 'number', at, out);
    if (!Number.isInteger(v)) return void out.push(`${at} must be int`);
    for (const low of [Number.MIN_SAFE_INTEGER, min]) if (low !== undefined && v < low) out.push(`${at} must be at least ${low}`);
    for (const high of [Number.MAX_SAFE_INTEGER, max]) if (high !== undefined && v > high) out.push(`${at} must be at most ${high}`);
  };

const arr =
  (item: Check, minLength = 0): Check =>
  (v, at, out) => {
    if (!Array.isArray(v)) return wrongType(v, 'array', at, out);
    for (let i = 0; i < v.length; i++) {
      // A string needs no key path unless it is wrong: ipam.exclude may hold 10,000 of them.
      if (item === str && typeof v[i] === 'string') continue;
      item(v[i], `${at}[${i}]`, out);
    }
    if (v.length < minLength) out.push(`${at} must be at least ${minLength}`);
  };

/** An object with these keys checked in this order; any other key is allowed and kept. */
const obj =
  (shape: Record<string, Check>): Check =>
  (v, at, out) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return wrongType(v, 'object', at, out);
    for (const k in shape) shape[k]!((v as Record<string, unknown>)[k], key(at, k), out);
  };

const optStr = opt(str);
const range = obj({ subnet: str, rangeStart: optStr, rangeEnd: optStr, gateway: optStr });
const rangeSets = opt(arr(arr(range)));
const optInt = opt(int());
const strings = opt(arr(str));
const attachments = arr(obj({ containerID: str, ifname: str }));

const netConf = obj({
  cniVersion: optStr,
  name: str,
  ipam: obj({
    type: optStr,
    subnet: optStr,
    rangeStart: optStr,
    rangeEnd: optStr,
    gateway: optStr,
    ranges: rangeSets,
    // A route's MTU is a size: a negative one would reach the container's routing table as nonsense.
    routes: opt(arr(obj({ dst: str, gw: optStr, mtu: opt(int(0)), advmss: optInt, priority: optInt, table: optInt, scope: optInt }))),
    dataDir: optStr,
    resolvConf: optStr,
    exclude: strings,
    lockTimeoutMs: opt(int(0, 600_000)),
    reclaimStaleBoot: opt(bool),
    logFile: optStr,
    logMaxBytes: opt(int(4096)),
    cluster: opt(
      obj({
        etcd: obj({ endpoints: arr(str, 1), caFile: optStr, certFile: optStr, keyFile: optStr, username: optStr, passwordFile: optStr }),
        prefix: optStr,
        pool: optStr,
        nodeName: optStr,
        timeoutMs: opt(int(100, 600_000)),
        statusScope: optStr,
      }),
    ),
    sticky: opt(obj({ holdSeconds: int(1, MAX_HOLD_SECONDS) })),
    reuseCooldownSeconds: opt(int(0, MAX_COOLDOWN_SECONDS)),
  }),
  runtimeConfig: opt(obj({ ips: strings, ipRanges: rangeSets, [POD_ANNOTATIONS]: opt(obj({ [IPS_ANNOTATION]: optStr })) })),
  args: opt(obj({ cni: opt(obj({ ips: strings })) })),
  prevResult: opt(obj({ ips: opt(arr(obj({ address: str }))) })),
  'cni.dev/valid-attachments': opt(attachments),
  'cni.dev/attachments': opt(attachments),
});

/** The parsed JSON as a network config, or code 7 naming up to five wrong keys. */
export function validateNetConf(v: unknown): RawNetConf {
  const out: string[] = [];
  netConf(v, '', out);
  if (out.length > 0) throw new CniError(Code.InvalidConfig, `invalid network config: ${out.slice(0, 5).join('; ')}`);
  return v as RawNetConf;
}

/** A list of attachments, as in a GC request's `cni.dev/valid-attachments`. */
export function isAttachmentList(v: unknown): v is RawAttachment[] {
  const out: string[] = [];
  attachments(v, '', out);
  return out.length === 0;
}
