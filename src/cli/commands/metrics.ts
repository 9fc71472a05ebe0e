// leasehold metrics: Prometheus text exposition for node_exporter's textfile collector.
import type { Command } from 'commander';
import type { NetworkSummary } from '../usage.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { summaries } from '../summaries.js';
import { type Act, type CommonOpts, EXIT, addCommonOptions, out } from '../context.js';

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('metrics')
    .description("lease metrics in Prometheus text format (for node_exporter's textfile collector)")
    .addHelpText('after', '\nWrite to a temp file and rename it into the textfile directory (see docs/cli.md).');
  addConfigOptions(addCommonOptions(cmd)).action(act((opts: CommonOpts & ConfigOpts, c: Command) => metrics(opts, c)));
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string>): string =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;

interface Family {
  name: string;
  help: string;
  samples: (n: NetworkSummary) => Array<[Record<string, string>, number | bigint]>;
}

/** Per range when the network's config is known; one sample with range="" (all addresses) otherwise. */
const perRange =
  (pick: (r: NetworkSummary['ranges'][number]) => number | bigint, whole?: (n: NetworkSummary) => number) =>
  (n: NetworkSummary): Array<[Record<string, string>, number | bigint]> =>
    n.ranges.length > 0
      ? n.ranges.map((r) => [{ network: n.network, range: r.subnet, range_set: String(r.rangeSet) }, pick(r)])
      : whole
        ? [[{ network: n.network, range: '', range_set: '' }, whole(n)]]
        : [];

const FAMILIES: Family[] = [
  {
    name: 'leasehold_leases',
    help: 'Leased addresses (range="" when no network config was found).',
    samples: perRange(
      (r) => r.leased,
      (n) => n.addresses,
    ),
  },
  { name: 'leasehold_capacity', help: 'Addresses the range can hand out (without gateway and ipam.exclude).', samples: perRange((r) => r.size) },
  { name: 'leasehold_free', help: 'Addresses of the range not leased nor held for a deleted pod.', samples: perRange((r) => r.free) },
  {
    name: 'leasehold_stale_leases',
    help: 'Leased addresses gc would free: from an earlier boot or with their netns gone.',
    samples: perRange(
      (r) => r.stale,
      (n) => n.staleAddresses,
    ),
  },
  { name: 'leasehold_orphan_claims', help: 'Claimed addresses that no lease record owns.', samples: (n) => [[{ network: n.network }, n.orphanClaims]] },
  {
    name: 'leasehold_state_errors',
    help: 'Unreadable files in the network: leasehold.json (1) plus lease records.',
    samples: (n) => [[{ network: n.network }, (n.state === 'unreadable' ? 1 : 0) + n.unreadableRecords]],
  },
  {
    name: 'leasehold_held',
    help: 'Addresses held for deleted pods (ipam.sticky) until their hold ends (range="" when no network config was found).',
    samples: perRange(
      (r) => r.held,
      (n) => n.held,
    ),
  },
  {
    name: 'leasehold_cooling',
    help: 'Freed addresses in their reuse cooldown (ipam.reuseCooldownSeconds), counted in leasehold_free.',
    samples: perRange(
      (r) => r.cooling,
      (n) => n.cooling,
    ),
  },
  {
    name: 'leasehold_expired_holds',
    help: 'Holds of deleted pods that ended and that gc has not freed yet.',
    samples: (n) => [[{ network: n.network }, n.expiredHolds]],
  },
];

export async function metrics(opts: CommonOpts & ConfigOpts, cmd: Command): Promise<number> {
  const { networks } = await summaries(opts, cmd);
  const text = FAMILIES.flatMap((f) => [
    `# HELP ${f.name} ${f.help}`,
    `# TYPE ${f.name} gauge`,
    ...networks.flatMap((n) => f.samples(n).map(([l, v]) => `${f.name}${labels(l)} ${String(v)}`)),
  ]);
  out(text.join('\n'));
  return EXIT.ok;
}
