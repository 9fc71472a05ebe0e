// leasehold import-host-local: turns host-local's reservation files into leasehold records, under the
// network lock, keeping containerID/ifname and host-local's round-robin position. Idempotent.
import type { Command } from 'commander';
import { CniError } from '../../base/errors.js';
import type { Adoption } from '../../store/store.js';
import { resolve } from 'node:path';
import { type Act, CliError, type CommonOpts, EXIT, addCommonOptions, out, warn } from '../context.js';
import { json, shortId, table } from '../format.js';
import { Stores } from '../stores.js';

interface ImportOpts extends CommonOpts {
  dryRun?: boolean;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('import-host-local')
    .description("import host-local's reservation files into leasehold lease records (idempotent)")
    .option('--dry-run', 'print what would be imported; change nothing');
  addCommonOptions(cmd, { lock: true }).action(act((opts: ImportOpts) => importHostLocal(opts)));
}

interface Imported {
  network: string;
  adopted: Array<{ containerID: string; ifname: string; addresses: string[] }>;
  /** Round-robin positions taken over from last_reserved_ip.<n> (only for range sets without one yet). */
  cursors: Record<string, string>;
}

const shown = (network: string, plan: Adoption): Imported => ({
  network,
  adopted: plan.adopted.map((a) => ({ containerID: a.lease.containerID, ifname: a.lease.ifname, addresses: a.added })),
  cursors: plan.cursors,
});

export async function importHostLocal(opts: ImportOpts): Promise<number> {
  // host-local's files are on this node's disk: the data directory's networks, never a cluster pool.
  const stores = new Stores(resolve(opts.dataDir), { byNetwork: new Map(), problems: [] });
  const store = stores.disk;
  const results: Imported[] = [];
  for (const network of await stores.existing(opts)) {
    // The same plan the plugin applies on its first contact with a network, under the network's lock; a dry
    // run reads it through a read-only view, which writes nothing (not even the lock file).
    const session = opts.dryRun ? undefined : await store.openForChange(network, { lockTimeoutMs: opts.lockTimeout, create: false });
    const view = session ?? (await store.readLocked(network, opts.lockTimeout));
    try {
      const st = await view.state();
      if (st.status === 'unreadable') throw new CliError(`${network}: leasehold.json is unreadable (${st.why}); run leasehold check`);
      const plan = view.planAdoption();
      if (session) await session.adopt(plan);
      results.push(shown(network, plan));
    } catch (e) {
      if (e instanceof CniError) throw new CliError(`${network}: ${e.message}`);
      throw e;
    } finally {
      view.close();
    }
  }
  if (opts.json) {
    out(json({ dryRun: opts.dryRun === true, networks: results }));
    return EXIT.ok;
  }
  const rows = results.flatMap((r) => r.adopted.map((a) => [r.network, a.addresses.join(','), shortId(a.containerID), a.ifname]));
  const verb = opts.dryRun ? 'would import' : 'imported';
  if (rows.length > 0) out(table(['NETWORK', verb.toUpperCase(), 'CONTAINER', 'IFNAME'], rows));
  for (const r of results) {
    for (const [set, at] of Object.entries(r.cursors)) out(`${r.network}: round-robin position of range set ${set}: ${at} (from last_reserved_ip.${set})`);
  }
  const addresses = results.reduce((n, r) => n + r.adopted.reduce((m, a) => m + a.addresses.length, 0), 0);
  const looked = `${results.length} network(s) looked at`;
  out(rows.length === 0 ? `nothing to import (${looked})` : `${verb} ${addresses} address(es) of ${rows.length} attachment(s) (${looked})`);
  if (results.length === 0) warn(`no networks in ${opts.dataDir}`);
  return EXIT.ok;
}
