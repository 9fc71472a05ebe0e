// The shape of the network config on stdin. Only types are checked here; meaning (CIDRs, overlaps,
// families) is checked in ranges.ts. zod/mini keeps this import cheap on the plugin's start-up path.
import * as z from 'zod/mini';

const str = z.string();
const optStr = z.optional(str);

export const rangeSchema = z.looseObject({
  subnet: str,
  rangeStart: optStr,
  rangeEnd: optStr,
  gateway: optStr,
});

export const rangeSetSchema = z.array(rangeSchema);

export const routeSchema = z.looseObject({
  dst: str,
  gw: optStr,
  mtu: z.optional(z.int()),
  advmss: z.optional(z.int()),
  priority: z.optional(z.int()),
  table: z.optional(z.int()),
  scope: z.optional(z.int()),
});

/** Cluster mode: one address pool shared by many nodes, kept on etcd (config/cluster.ts gives the meaning). */
export const clusterSchema = z.looseObject({
  etcd: z.looseObject({
    endpoints: z.array(str).check(z.minLength(1)),
    caFile: optStr,
    certFile: optStr,
    keyFile: optStr,
    username: optStr,
    passwordFile: optStr,
  }),
  prefix: optStr,
  pool: optStr,
  nodeName: optStr,
  timeoutMs: z.optional(z.int().check(z.gte(100), z.lte(600_000))),
});

export const ipamSchema = z.looseObject({
  type: optStr,
  // The legacy single-range keys, kept for host-local parity.
  subnet: optStr,
  rangeStart: optStr,
  rangeEnd: optStr,
  gateway: optStr,
  ranges: z.optional(z.array(rangeSetSchema)),
  routes: z.optional(z.array(routeSchema)),
  dataDir: optStr,
  resolvConf: optStr,
  exclude: z.optional(z.array(str)),
  lockTimeoutMs: z.optional(z.int().check(z.gte(0), z.lte(600_000))),
  reclaimStaleBoot: z.optional(z.boolean()),
  logFile: optStr,
  logMaxBytes: z.optional(z.int().check(z.gte(4096))),
  cluster: z.optional(clusterSchema),
});

const attachmentSchema = z.looseObject({ containerID: str, ifname: str });

export const netConfSchema = z.looseObject({
  cniVersion: optStr,
  name: str,
  ipam: ipamSchema,
  runtimeConfig: z.optional(
    z.looseObject({
      ips: z.optional(z.array(str)),
      ipRanges: z.optional(z.array(rangeSetSchema)),
    }),
  ),
  args: z.optional(
    z.looseObject({
      cni: z.optional(z.looseObject({ ips: z.optional(z.array(str)) })),
    }),
  ),
  prevResult: z.optional(
    z.looseObject({
      ips: z.optional(z.array(z.looseObject({ address: str }))),
    }),
  ),
  'cni.dev/valid-attachments': z.optional(z.array(attachmentSchema)),
  'cni.dev/attachments': z.optional(z.array(attachmentSchema)),
});

export type RawNetConf = z.infer<typeof netConfSchema>;
export type RawRange = z.infer<typeof rangeSchema>;
export type RawRoute = z.infer<typeof routeSchema>;
export type RawCluster = z.infer<typeof clusterSchema>;

/** Turns zod issues into one line an operator can act on, e.g. `ipam.ranges[0][1].subnet: expected string`. */
export function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; code: string } & Record<string, unknown>>): string {
  return issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
      let what: string;
      switch (i.code) {
        case 'invalid_type':
          what = i.input === undefined ? `is required (${String(i.expected)})` : `must be ${String(i.expected)}`;
          break;
        case 'too_small':
          what = `must be at least ${String(i.minimum)}`;
          break;
        case 'too_big':
          what = `must be at most ${String(i.maximum)}`;
          break;
        default:
          what = `is invalid (${i.code})`;
      }
      return `${path || 'config'} ${what}`;
    })
    .join('; ');
}
