// leasehold release: frees named leases, all or nothing. A lease whose netns still exists (or is unknown,
// for leases adopted from host-local) may belong to a running container: that needs --force.
import type { Command } from 'commander';
import { findLeaks } from '../../allocator/leaks.js';
import { canonicalIp } from '../../net/ip.js';
import { silentFor } from '../findings.js';
import { judgeablePart } from '../../store/store.js';
import { leakFacts } from '../leak-view.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { type Act, CliError, type CommonOpts, EXIT, type Facts, type SilenceOpts, addCommonOptions, addSilenceOption, readFacts } from '../context.js';
import { type Freed, type Release, describeHold, freeRelease, printFreed } from '../freeing.js';
import { endHolds, podHolds } from '../holds.js';
import { duration, shortId } from '../format.js';
import { type NetworkSnapshot, snapshotOf, withSessions } from '../snapshot.js';
import { storesFor } from '../stores.js';

interface ReleaseOpts extends CommonOpts, ConfigOpts, SilenceOpts {
  container?: string;
  ifname?: string;
  node?: string;
  hold?: string;
  force?: boolean;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('release')
    .description('free the leases holding these addresses, or the leases of --container, or (cluster mode) of --node')
    .argument('[address...]', 'leased addresses (releasing one frees its whole lease: every address of that container interface)')
    .option('--container <id>', 'the container (full id, or a unique prefix as list shows it)')
    .option('--ifname <name>', 'with --container: only this interface')
    .option('--node <name>', 'cluster mode: every lease a node made, for a node that is gone for good')
    .option('--hold <namespace/name>', "end the holds of a deleted pod's addresses (ipam.sticky): other pods may get them")
    .option(
      '--force',
      'also free leases whose netns still exists or is unknown, unowned claims written in this boot, and leases of a node seen within --silent-after',
    );
  addSilenceOption(cmd, 'with --node: a node seen claiming or releasing more recently than this may still run pods, and needs --force');
  addConfigOptions(addCommonOptions(cmd, { lock: true })).action(act((addresses: string[], opts: ReleaseOpts, c: Command) => release(addresses, opts, c)));
}

interface Target {
  network: string;
  what: Release;
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

/**
 * Finds what to free in one network snapshot. What the leak rule would free anyway goes without --force;
 * anything else (a live or unknown netns, a claim written in this boot) is guarded.
 */
function resolveIn(snap: NetworkSnapshot, addresses: string[], opts: ReleaseOpts, facts: Facts): Target[] {
  if (opts.node !== undefined) return nodeTargets(snap, opts.node, facts);
  const { leases: own, claims } = judgeablePart(snap);
  const judged = findLeaks(own, claims, leakFacts(snap, facts));
  const leaseGuard = (netns: string): string => (netns === '' ? 'its netns is unknown (adopted from host-local)' : `its netns ${netns} still exists`);
  const leases = snap.leases.filter((l) =>
    opts.container !== undefined
      ? l.containerID.startsWith(opts.container) && (opts.ifname === undefined || l.ifname === opts.ifname)
      : l.addresses.some((a) => addresses.includes(a)),
  );
  const targets: Target[] = leases.map((lease) => ({
    network: snap.network,
    what: { lease },
    guard: judged.some((j) => j.freeable && j.lease === lease) ? undefined : leaseGuard(lease.netns),
  }));
  if (opts.container === undefined && snap.nodes) {
    // Cluster mode judges no claim by rule (see nodeFindings): an address key with no record needs --force.
    const recorded = new Set(snap.leases.flatMap((l) => l.addresses));
    for (const c of snap.claims) {
      if (!addresses.includes(c.address) || recorded.has(c.address)) continue;
      const guard = `its address key names ${c.holder ? `${shortId(c.holder.containerID)}/${c.holder.ifname}` : 'nobody named'}, which has no lease record`;
      targets.push({ network: snap.network, what: { address: c.address }, guard });
    }
  } else if (opts.container === undefined) {
    const recorded = new Set(leases.flatMap((l) => l.addresses));
    for (const j of judged) {
      if (j.lease || !addresses.includes(j.address!) || recorded.has(j.address!)) continue;
      const held = j.holder ? `${shortId(j.holder.containerID)}/${j.holder.ifname}` : 'nobody named';
      const guard = j.freeable ? undefined : j.reason === 'not-imported' ? j.keptBecause : `${j.keptBecause} (held for ${held})`;
      targets.push({ network: snap.network, what: { address: j.address! }, guard });
    }
  }
  return targets;
}

/** Every lease a node made. This host cannot see that node's namespaces: only the node's silence says it is gone. */
function nodeTargets(snap: NetworkSnapshot, node: string, facts: Facts): Target[] {
  if (!snap.nodes) return [];
  const silence = silentFor(snap.nodes.seen[node], facts);
  const guard =
    silence === null ? `node ${node} was seen ${ageText(snap.nodes.seen[node], facts)} ago, within --silent-after, and may still run pods` : undefined;
  return snap.leases.filter((l) => l.node === node).map((lease) => ({ network: snap.network, what: { lease }, guard }));
}

const ageText = (iso: string | undefined, facts: Facts): string => (iso ? duration(facts.now - Date.parse(iso)) : '?');

/** Everything wrong with the request, given what was found; empty when it can go ahead. */
function problems(targets: Target[], addresses: string[], opts: ReleaseOpts): string[] {
  const p: string[] = [];
  const covers = (t: Target, a: string): boolean => ('lease' in t.what ? t.what.lease.addresses.includes(a) : t.what.address === a);
  for (const a of addresses) {
    const nets = [...new Set(targets.filter((t) => covers(t, a)).map((t) => t.network))];
    if (nets.length === 0) p.push(`${a}: not leased${opts.network ? ` in network ${opts.network}` : ''}`);
    if (nets.length > 1) p.push(`${a}: leased in networks ${nets.join(' and ')}; choose one with --network`);
  }
  if (opts.node !== undefined && targets.length === 0) p.push(`node ${opts.node}: no leases${opts.network ? ` in network ${opts.network}` : ''}`);
  if (opts.container !== undefined) {
    const ids = [...new Set(targets.flatMap((t) => ('lease' in t.what ? [t.what.lease.containerID] : [])))];
    if (ids.length === 0) p.push(`container ${opts.container}${opts.ifname ? ` interface ${opts.ifname}` : ''}: no lease`);
    if (ids.length > 1) p.push(`container ${opts.container} is ambiguous: it matches ${ids.join(', ')}`);
  }
  if (!opts.force && opts.node !== undefined) {
    for (const network of new Set(targets.filter((t) => t.guard).map((t) => t.network))) {
      const mine = targets.filter((t) => t.network === network);
      p.push(
        `${network}: ${mine.length} lease(s) of node ${opts.node} not freed: ${mine[0]!.guard}; make sure the node is gone (kubectl get node), or use --force`,
      );
    }
  } else if (!opts.force) {
    for (const t of targets.filter((x) => x.guard)) {
      const what =
        'lease' in t.what
          ? `lease of ${shortId(t.what.lease.containerID)}/${t.what.lease.ifname} (${t.what.lease.addresses.join(', ')})`
          : `claim ${t.what.address}`;
      p.push(`${t.network}: ${what} not freed: ${t.guard}; stop the container first, or use --force`);
    }
  }
  return p;
}

export async function release(args: string[], opts: ReleaseOpts, cmd: Command): Promise<number> {
  if ([args.length > 0, opts.container !== undefined, opts.node !== undefined, opts.hold !== undefined].filter(Boolean).length !== 1) {
    throw new CliError('give addresses, --container ID, --node NAME or --hold NAMESPACE/NAME');
  }
  if (opts.hold !== undefined) return releaseHold(opts.hold, opts, cmd);
  if (opts.ifname !== undefined && opts.container === undefined) throw new CliError('--ifname needs --container');
  const addresses = [...new Set(args.map(canonical))];
  const facts = readFacts(opts.silentAfter);
  const stores = storesFor(cmd, opts);
  if (opts.node !== undefined && !(await stores.existing(opts)).some((n) => stores.clusterNetworks.includes(n))) {
    throw new CliError('--node applies to networks in cluster mode; none is configured here (see --config and --cni-conf-dir)');
  }
  // Find the networks involved without locks, then decide and free under all of their locks at once.
  const involved: string[] = [];
  for (const n of await stores.existing(opts)) {
    if (resolveIn(await snapshotOf(stores.of(n).readUnlocked(n)), addresses, opts, facts).length > 0) involved.push(n);
  }
  const freed = await withSessions(stores, involved, opts.lockTimeout, async (sessions) => {
    const targets: Target[] = [];
    for (const s of sessions.values()) targets.push(...resolveIn(await snapshotOf(s), addresses, opts, facts));
    const p = problems(targets, addresses, opts);
    if (p.length > 0) throw new CliError(`nothing freed: ${p.join('; ')}`, EXIT.findings);
    const done: Freed[] = [];
    for (const t of targets) done.push(await freeRelease(sessions.get(t.network)!, t.what));
    return done;
  });
  printFreed(freed, opts);
  return EXIT.ok;
}

/** Ends every hold of the pod (each interface, in every selected network) under the networks' locks. */
async function releaseHold(pod: string, opts: ReleaseOpts, cmd: Command): Promise<number> {
  if (!/^[^/]+\/[^/]+$/.test(pod)) throw new CliError(`--hold ${pod}: give the pod as NAMESPACE/NAME`);
  const stores = storesFor(cmd, opts);
  const involved: string[] = [];
  for (const n of await stores.existing(opts)) if (podHolds(await snapshotOf(stores.of(n).readUnlocked(n)), pod).length > 0) involved.push(n);
  const freed = await withSessions(stores, involved, opts.lockTimeout, async (sessions) => {
    const done: Freed[] = [];
    for (const s of sessions.values()) {
      for (const { hold, addresses } of await endHolds(s, podHolds(await snapshotOf(s), pod))) done.push(describeHold(s.network, hold, 'released', addresses));
    }
    return done;
  });
  if (freed.length === 0) throw new CliError(`nothing freed: no hold for pod ${pod}${opts.network ? ` in network ${opts.network}` : ''}`, EXIT.findings);
  printFreed(freed, opts);
  return EXIT.ok;
}
