// leasehold migrate: moves a network's leases from this node's disk into its cluster pool, once its config has
// ipam.cluster. Under the network's lock (the plugin's calls on this node wait), each record is claimed in the
// pool as this node's and then removed from the disk. Checked first, all or nothing: every address must lie in
// the configured ranges and be free in the pool (or already this attachment's). Idempotent: a record already
// in the pool with the same addresses is only removed from the disk.
import type { Command } from 'commander';
import { setContains } from '../../allocator/allocate.js';
import { CniError } from '../../base/errors.js';
import type { NetConf } from '../../config/load.js';
import { parseIp } from '../../net/ip.js';
import type { Lease } from '../../store/lease.js';
import { type LockedReader, type NetworkReader, type NetworkSession, type Store, ownership, withSession } from '../../store/store.js';
import { compareAddresses } from '../address-order.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { type Act, CliError, type CommonOpts, EXIT, addCommonOptions, out } from '../context.js';
import { json, shortId, table } from '../format.js';
import { storesFor } from '../stores.js';

interface MigrateOpts extends CommonOpts, ConfigOpts {
  dryRun?: boolean;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('migrate')
    .description("move this node's disk leases of a cluster-mode network into its etcd pool (idempotent)")
    .option('--dry-run', 'print what would move; change nothing');
  addConfigOptions(addCommonOptions(cmd, { lock: true })).action(act((opts: MigrateOpts, c: Command) => migrate(opts, c)));
}

type Step = { lease: Lease; action: 'move' | 'in-pool' };

interface Moved {
  network: string;
  containerID: string;
  ifname: string;
  addresses: string[];
  /** moved: claimed in the pool and removed from the disk; in-pool: was there already, removed from the disk. */
  action: 'moved' | 'in-pool' | 'would-move' | 'would-remove';
}

const sameAddresses = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

/** What to do with each disk lease, and every reason it cannot be done (then nothing is done). */
async function plan(disk: Lease[], pool: NetworkReader, conf: NetConf): Promise<{ steps: Step[]; problems: string[] }> {
  const steps: Step[] = [];
  const problems: string[] = [];
  for (const lease of disk) {
    const who = `${shortId(lease.containerID)}/${lease.ifname}`;
    const outside = lease.addresses.filter((a) => !conf.rangeSets.some((s) => setContains(s, parseIp(a))));
    if (outside.length) {
      problems.push(`${who}: ${outside.join(', ')} outside the configured ranges`);
      continue;
    }
    const there = await pool.getLease(lease);
    if (there && pool.node !== undefined && ownership(there, { node: pool.node, machine: pool.machine ?? null }) === 'other') {
      problems.push(`${who}: the pool's record of it was made by node ${there.node ?? '(none recorded)'} on another machine or name`);
      continue;
    }
    if (there) {
      if (sameAddresses(there.addresses, lease.addresses)) steps.push({ lease, action: 'in-pool' });
      else problems.push(`${who}: the pool has a record of it with other addresses (${there.addresses.join(', ')})`);
      continue;
    }
    for (const a of lease.addresses) {
      const holder = await pool.claimHolder(a);
      if (holder) problems.push(`${who}: ${a} is held in the pool by ${shortId(holder.containerID)}/${holder.ifname}`);
    }
    steps.push({ lease, action: 'move' });
  }
  return { steps, problems };
}

/**
 * Runs f on the network opened for change or, for a dry run, on a read-only view under the same lock (which
 * replays no journal and writes nothing); `write` is the session when there is one.
 */
async function withAccess<T>(
  store: Store,
  network: string,
  opts: MigrateOpts,
  f: (view: LockedReader, write: NetworkSession | undefined) => Promise<T>,
): Promise<T> {
  if (!opts.dryRun) return withSession(store, network, { lockTimeoutMs: opts.lockTimeout, create: false }, (s) => f(s, s));
  const reader = await store.readLocked(network, opts.lockTimeout);
  try {
    return await f(reader, undefined);
  } finally {
    reader.close();
  }
}

export async function migrate(opts: MigrateOpts, cmd: Command): Promise<number> {
  const stores = storesFor(cmd, opts);
  const networks = (await stores.select(opts, true)).filter((n) => stores.clusterNetworks.includes(n));
  if (networks.length === 0) throw new CliError('no network in cluster mode is configured here: add ipam.cluster to its config first (see --config)');
  const done: Moved[] = [];
  for (const network of networks) {
    if (!(await stores.disk.has(network))) continue;
    const conf = stores.configs.byNetwork.get(network)!.conf;
    try {
      // Both stores take the same lock file in the data directory: the second open shares the first's lock.
      await withAccess(stores.disk, network, opts, (disk, diskWrite) =>
        withAccess(stores.of(network), network, opts, async (pool, poolWrite) => {
          const st = await disk.state();
          if (st.status === 'unreadable') throw new CliError(`${network}: ${st.path} is unreadable (${st.why}); run leasehold check`);
          if (stores.disk.readUnlocked(network).planAdoption().adopted.length) {
            throw new CliError(`${network}: host-local reservations in ${disk.location} are not imported yet; run leasehold import-host-local first`);
          }
          const { leases, unreadable } = await disk.listLeases();
          if (unreadable.length) throw new CliError(`${network}: ${unreadable.map((u) => u.path).join(', ')} unreadable; run leasehold check first`);
          const { steps, problems } = await plan(
            leases.sort((a, b) => compareAddresses(a.addresses[0], b.addresses[0])),
            pool,
            conf,
          );
          if (problems.length) throw new CliError(`${network}: nothing moved: ${problems.join('; ')}`, EXIT.findings);
          for (const { lease, action } of steps) {
            const row = { network, containerID: lease.containerID, ifname: lease.ifname, addresses: lease.addresses };
            if (!diskWrite || !poolWrite) {
              done.push({ ...row, action: action === 'move' ? 'would-move' : 'would-remove' });
              continue;
            }
            if (action === 'move') {
              const cursors = await pool.state();
              await poolWrite.putLease(lease, undefined, cursors.status === 'ok' ? cursors.value.cursors : {});
            }
            await diskWrite.deleteLease(lease);
            done.push({ ...row, action: action === 'move' ? 'moved' : 'in-pool' });
          }
        }),
      );
    } catch (e) {
      if (e instanceof CniError) throw new CliError(`${network}: ${e.message}${done.length ? ` (${done.length} moved before this; run migrate again)` : ''}`);
      throw e;
    }
  }
  if (opts.json) {
    out(json({ dryRun: opts.dryRun === true, leases: done }));
    return EXIT.ok;
  }
  if (done.length === 0) {
    out(`nothing to move: no disk leases of ${networks.join(', ')} in ${stores.dataDir}`);
    return EXIT.ok;
  }
  out(
    table(
      ['NETWORK', 'ADDRESSES', 'CONTAINER', 'IFNAME', 'ACTION'],
      done.map((m) => [m.network, m.addresses.join(','), shortId(m.containerID), m.ifname, m.action]),
    ),
  );
  return EXIT.ok;
}
