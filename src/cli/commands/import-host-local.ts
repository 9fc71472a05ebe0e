// leasehold import-host-local: turns host-local's reservation files into leasehold records, under the
// network lock, keeping containerID/ifname and host-local's round-robin position. Idempotent.
import type { Command } from 'commander';
import { CniError } from '../../cni/errors.js';
import { type Adoption, adoptHostLocal } from '../../store/adopt.js';
import { ensurePrivateDir } from '../../store/fsutil.js';
import { STATE_FORMAT } from '../../store/network-store.js';
import { networkExists, readState, withNetworkLock } from '../../store/networks.js';
import { type Act, CliError, type CommonOpts, EXIT, addCommonOptions, out, selectNetworks, warn } from '../context.js';
import { json, shortId, table } from '../format.js';

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
  adopted: Adoption['adopted'];
  /** Round-robin positions taken over from last_reserved_ip.<n> (only for range sets without one yet). */
  cursors: Record<string, string>;
}

function importNetwork(dataDir: string, network: string, timeoutMs: number, dryRun: boolean): Imported {
  return withNetworkLock(dataDir, network, timeoutMs, (store) => {
    const state = readState(store.dir);
    if (state.status === 'unreadable') throw new CliError(`${network}: leasehold.json is unreadable (${state.why}); run leasehold check`);
    const current = state.status === 'ok' ? state.value.cursors : {};
    if (!dryRun) ensurePrivateDir(store.leasesDir);
    const adoption = adoptHostLocal(store, dryRun);
    const cursors = Object.fromEntries(Object.entries(adoption.cursors).filter(([k]) => current[k] === undefined));
    if (!dryRun && (state.status === 'missing' || Object.keys(cursors).length > 0)) {
      store.saveState({ format: STATE_FORMAT, network, cursors: { ...cursors, ...current } });
    }
    return { network, adopted: adoption.adopted, cursors };
  });
}

export function importHostLocal(opts: ImportOpts): number {
  const results: Imported[] = [];
  for (const network of selectNetworks(opts).filter((n) => networkExists(opts.dataDir, n))) {
    try {
      results.push(importNetwork(opts.dataDir, network, opts.lockTimeout, opts.dryRun === true));
    } catch (e) {
      if (e instanceof CniError) throw new CliError(`${network}: ${e.message}`);
      throw e;
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
