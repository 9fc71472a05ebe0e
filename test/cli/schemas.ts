// The documented --json shapes (docs/cli.md), checked strictly: a renamed or missing field fails a test.
import * as z from 'zod';

const str = z.string();
const nstr = z.string().nullable();
const count = z.number().int().nonnegative();

export const rangeUsage = z.strictObject({
  rangeSet: count,
  subnet: str,
  start: str,
  end: str,
  size: count,
  leased: count,
  free: count,
  usedPercent: z.number().min(0).max(100),
  lastHandedOut: nstr,
  oldestLease: nstr,
  staleBoot: count,
  stale: count,
  held: count,
  cooling: count,
});

export const statusJson = z.strictObject({
  dataDir: str,
  bootId: nstr,
  networks: z.array(
    z.strictObject({
      network: str,
      config: nstr,
      state: z.enum(['ok', 'missing', 'unreadable']),
      stateError: z.optional(str),
      leases: count,
      addresses: count,
      staleBoot: count,
      netnsGone: count,
      staleAddresses: count,
      orphanClaims: count,
      notImported: count,
      unreadableRecords: count,
      outsideRanges: count.nullable(),
      oldestLease: nstr,
      cursors: z.record(str, str),
      ranges: z.array(rangeUsage),
      held: count,
      cooling: count,
      expiredHolds: count,
    }),
  ),
  warnings: z.array(str),
});

const flag = z.enum(['stale-boot', 'netns-gone']);

/** A held or cooling address as list --json shows it. */
const reuseRow = (kind: 'held' | 'cooling') =>
  z.strictObject({
    network: str,
    address: str,
    kind: z.literal(kind),
    pod: kind === 'held' ? str : z.null(),
    ifname: kind === 'held' ? str : z.null(),
    containerID: kind === 'held' ? str : z.null(),
    until: str,
    live: z.boolean(),
  });

export const listJson = z.strictObject({
  leases: z.array(
    z.strictObject({
      network: str,
      addresses: z.array(str),
      containerID: str,
      ifname: str,
      podNamespace: nstr,
      podName: nstr,
      podUid: nstr,
      netns: str,
      createdAt: str,
      ageSeconds: count.nullable(),
      bootId: nstr,
      adoptedFromHostLocal: z.boolean(),
      node: nstr,
      flags: z.array(flag),
    }),
  ),
  held: z.array(reuseRow('held')),
  cooling: z.array(reuseRow('cooling')),
});

export const findingKind = z.enum([
  'state-unreadable',
  'cursor-ignored',
  'record-unreadable',
  'duplicate-address',
  'claim-missing',
  'outside-range',
  'stale-boot',
  'netns-gone',
  'not-imported',
  'orphan-claim',
  'index-missing',
  'index-orphan',
  'node-silent',
  'node-name-clash',
  'hold-expired',
]);

export const checkJson = z.strictObject({
  clean: z.boolean(),
  dataDir: str,
  networks: z.array(z.strictObject({ network: str, config: nstr, leases: count, claims: count, findings: count })),
  findings: z.array(
    z.strictObject({
      network: str,
      kind: findingKind,
      detail: str,
      addresses: z.array(str),
      containerID: nstr,
      ifname: nstr,
      path: nstr,
      freeable: z.boolean(),
    }),
  ),
});

export const freedJson = z.strictObject({
  dryRun: z.boolean(),
  refused: z.optional(z.array(str)),
  runtime: z.optional(z.strictObject({ endpoint: str, sandboxes: z.number().int().nonnegative() })),
  freed: z.array(
    z.strictObject({
      network: str,
      kind: z.enum(['lease', 'claim', 'hold']),
      reason: z.enum(['stale-boot', 'netns-gone', 'orphan-claim', 'not-valid', 'released', 'hold-expired']),
      containerID: nstr,
      ifname: nstr,
      addresses: z.array(str),
    }),
  ),
});

export const importJson = z.strictObject({
  dryRun: z.boolean(),
  networks: z.array(
    z.strictObject({
      network: str,
      adopted: z.array(z.strictObject({ containerID: str, ifname: str, addresses: z.array(str) })),
      cursors: z.record(str, str),
    }),
  ),
});
