// leasehold release: frees named leases, all or nothing. A lease whose netns still exists (or is unknown,
// for leases adopted from host-local) may belong to a running container: that needs --force.
import type { Command } from 'commander';
import { type Leak, claimsFromEarlierBoot } from '../../allocator/leaks.js';
import { canonicalIp } from '../../net/ip.js';
import { type NetworkSnapshot, networkExists, peekSnapshot, snapshot, withNetworkLocks } from '../../store/networks.js';
import { type Act, CliError, type CommonOpts, EXIT, type Facts, addCommonOptions, readFacts, selectNetworks } from '../context.js';
import { type Freed, freeLeak, printFreed } from '../freeing.js';
import { shortId } from '../format.js';

interface ReleaseOpts extends CommonOpts {
  container?: string;
  ifname?: string;
  force?: boolean;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('release')
    .description('free the leases holding these addresses, or the leases of --container')
    .argument('[address...]', 'leased addresses (releasing one frees its whole lease: every address of that container interface)')
    .option('--container <id>', 'the container (full id, or a unique prefix as list shows it)')
    .option('--ifname <name>', 'with --container: only this interface')
    .option('--force', 'also free leases whose netns still exists or is unknown, and unowned claims written in this boot');
  addCommonOptions(cmd, { lock: true }).action(act((addresses: string[], opts: ReleaseOpts) => release(addresses, opts)));
}

interface Target {
  network: string;
  leak: Leak;
  /** Why it may not be freed without --force. */
  guard?: string;
}

function canonical(text: string): string {
  try {
    return canonicalIp(text);
  } catch (e) {
    throw new CliError(`${(e as Error).message}`);
  }
}

/** Finds what to free in one network snapshot. */
function resolveIn(snap: NetworkSnapshot, addresses: string[], opts: ReleaseOpts, { netnsExists, bootTimeMs }: Facts): Target[] {
  const guardOf = (netns: string): string | undefined =>
    netns === '' ? 'its netns is unknown (adopted from host-local)' : netnsExists(netns) ? `its netns ${netns} still exists` : undefined;
  const leases = snap.leases.filter((l) =>
    opts.container !== undefined
      ? l.containerID.startsWith(opts.container) && (opts.ifname === undefined || l.ifname === opts.ifname)
      : l.addresses.some((a) => addresses.includes(a)),
  );
  const targets: Target[] = leases.map((lease) => ({ network: snap.network, leak: { reason: 'not-valid', lease }, guard: guardOf(lease.netns) }));
  if (opts.container === undefined) {
    const recorded = new Set(leases.flatMap((l) => l.addresses));
    for (const c of snap.claims) {
      if (!addresses.includes(c.address) || recorded.has(c.address)) continue;
      const guard =
        snap.state.status === 'missing'
          ? 'it is a host-local reservation not imported yet'
          : !claimsFromEarlierBoot([c], bootTimeMs).length
            ? `no record owns it, but it was written in this boot (held for ${c.holder ? `${shortId(c.holder.containerID)}/${c.holder.ifname}` : 'nobody named'})`
            : undefined;
      targets.push({ network: snap.network, leak: { reason: 'orphan-claim', address: c.address }, guard });
    }
  }
  return targets;
}

/** Everything wrong with the request, given what was found; empty when it can go ahead. */
function problems(targets: Target[], addresses: string[], opts: ReleaseOpts): string[] {
  const p: string[] = [];
  const covers = (t: Target, a: string): boolean => (t.leak.lease ? t.leak.lease.addresses.includes(a) : t.leak.address === a);
  for (const a of addresses) {
    const nets = [...new Set(targets.filter((t) => covers(t, a)).map((t) => t.network))];
    if (nets.length === 0) p.push(`${a}: not leased${opts.network ? ` in network ${opts.network}` : ''}`);
    if (nets.length > 1) p.push(`${a}: leased in networks ${nets.join(' and ')}; choose one with --network`);
  }
  if (opts.container !== undefined) {
    const ids = [...new Set(targets.map((t) => t.leak.lease!.containerID))];
    if (ids.length === 0) p.push(`container ${opts.container}${opts.ifname ? ` interface ${opts.ifname}` : ''}: no lease`);
    if (ids.length > 1) p.push(`container ${opts.container} is ambiguous: it matches ${ids.join(', ')}`);
  }
  if (!opts.force) {
    for (const t of targets.filter((x) => x.guard)) {
      const what = t.leak.lease ? `lease of ${shortId(t.leak.lease.containerID)}/${t.leak.lease.ifname} (${t.leak.lease.addresses.join(', ')})` : `claim ${t.leak.address}`;
      p.push(`${t.network}: ${what} not freed: ${t.guard}; stop the container first, or use --force`);
    }
  }
  return p;
}

export function release(args: string[], opts: ReleaseOpts): number {
  if ((args.length > 0) === (opts.container !== undefined)) throw new CliError('give either addresses or --container ID');
  if (opts.ifname !== undefined && opts.container === undefined) throw new CliError('--ifname needs --container');
  const addresses = [...new Set(args.map(canonical))];
  const facts = readFacts();
  const networks = selectNetworks(opts).filter((n) => networkExists(opts.dataDir, n));
  // Find the networks involved without locks, then decide and free under all of their locks at once.
  const involved = networks.filter((n) => resolveIn(peekSnapshot(opts.dataDir, n), addresses, opts, facts).length > 0);
  const freed = withNetworkLocks(opts.dataDir, involved, opts.lockTimeout, (stores) => {
    const targets = [...stores.values()].flatMap((s) => resolveIn(snapshot(s), addresses, opts, facts));
    const p = problems(targets, addresses, opts);
    if (p.length > 0) throw new CliError(`nothing freed: ${p.join('; ')}`, EXIT.findings);
    return targets.map((t): Freed => freeLeak(stores.get(t.network)!, t.leak, 'released'));
  });
  printFreed(freed, opts);
  return EXIT.ok;
}
