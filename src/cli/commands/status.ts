// leasehold status: per network and range, how full it is and what is leaked.
import type { Command } from 'commander';
import { FULL_PERCENT, type NetworkSummary } from '../usage.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { summaries } from '../summaries.js';
import { type Act, type CommonOpts, EXIT, addCommonOptions, out } from '../context.js';
import { ageOf, bar, count, json, table } from '../format.js';

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('status')
    .description('how full each network and range is, and how many leases are leaked')
    .addHelpText('after', '\nRanges come from --config, or from the configs in --cni-conf-dir whose ipam.type is leasehold.');
  addConfigOptions(addCommonOptions(cmd)).action(act((opts: CommonOpts & ConfigOpts, c: Command) => status(opts, c)));
}

export async function status(opts: CommonOpts & ConfigOpts, cmd: Command): Promise<number> {
  const { dataDir, facts, networks } = await summaries(opts, cmd);
  const warnings = networks.flatMap(warningsOf);
  if (opts.json) {
    out(json({ dataDir, bootId: facts.bootId, networks, warnings }));
    return EXIT.ok;
  }
  if (networks.length === 0) {
    out(`no networks in ${dataDir}`);
    return EXIT.ok;
  }
  out(
    table(
      ['NETWORK', 'CONFIG', 'LEASES', 'EARLIER BOOT', 'NETNS GONE', 'ORPHAN CLAIMS', 'NOT IMPORTED', 'OLDEST LEASE'],
      networks.map((n) => [
        n.network,
        n.config ?? '-',
        String(n.leases),
        String(n.staleBoot),
        String(n.netnsGone),
        String(n.orphanClaims),
        String(n.notImported),
        ageOf(n.oldestLease, facts.now),
      ]),
      [2, 3, 4, 5, 6],
    ),
  );
  const ranged = networks.filter((n) => n.ranges.length > 0);
  if (ranged.length > 0) {
    // HELD and COOLING appear once a network has held or cooling addresses (ipam.sticky, reuseCooldownSeconds).
    const reuse = ranged.some((n) => n.ranges.some((r) => r.held > 0 || r.cooling > 0));
    out('');
    out(
      table(
        [
          'NETWORK',
          'RANGE',
          'SIZE',
          'LEASED',
          ...(reuse ? ['HELD'] : []),
          'FREE',
          ...(reuse ? ['COOLING'] : []),
          'USED',
          'LAST HANDED OUT',
          'OLDEST LEASE',
          'EARLIER BOOT',
        ],
        ranged.flatMap((n) =>
          n.ranges.map((r) => [
            n.network,
            `${r.subnet} ${r.start}-${r.end}`,
            count(r.size),
            String(r.leased),
            ...(reuse ? [String(r.held)] : []),
            count(r.free),
            ...(reuse ? [String(r.cooling)] : []),
            `${bar(r.usedPercent)} ${`${r.usedPercent.toFixed(1)}%`.padStart(6)}`,
            r.lastHandedOut ?? '-',
            ageOf(r.oldestLease, facts.now),
            String(r.staleBoot),
          ]),
        ),
        reuse ? [2, 3, 4, 5, 6, 10] : [2, 3, 4, 8],
      ),
    );
  }
  if (warnings.length > 0) out(`\n${warnings.map((w) => `warning: ${w}`).join('\n')}`);
  return EXIT.ok;
}

function warningsOf(n: NetworkSummary): string[] {
  const w: string[] = [];
  for (const r of n.ranges) {
    if (r.usedPercent >= FULL_PERCENT) {
      w.push(
        `${n.network} range ${r.subnet} is ${r.usedPercent}% full (${r.leased} of ${count(r.size)} addresses leased); free leaks with leasehold gc or widen the range`,
      );
    }
  }
  if (n.state === 'unreadable') w.push(`${n.network}: leasehold.json is unreadable (${n.stateError}); run leasehold check`);
  if (n.unreadableRecords > 0) w.push(`${n.network}: ${n.unreadableRecords} lease record(s) are unreadable; run leasehold check`);
  if (n.outsideRanges) w.push(`${n.network}: ${n.outsideRanges} leased address(es) lie outside the configured ranges`);
  if (n.expiredHolds > 0) w.push(`${n.network}: ${n.expiredHolds} hold(s) of deleted pods ended and are not cleaned up yet; run leasehold gc`);
  if (n.notImported > 0) w.push(`${n.network}: ${n.notImported} host-local reservation(s) not imported yet; run leasehold import-host-local`);
  return w;
}
