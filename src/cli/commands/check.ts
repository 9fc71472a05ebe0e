// leasehold check: integrity and leak report. Exit 0 clean, 1 findings, 2 usage or I/O errors.
import type { Command } from 'commander';
import type { Finding } from '../finding.js';
import { findings } from '../findings.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { type Act, type CommonOpts, EXIT, type SilenceOpts, addCommonOptions, addSilenceOption, out, readFacts, warn } from '../context.js';
import { json, table } from '../format.js';
import { snapshotOf } from '../snapshot.js';
import { storesFor } from '../stores.js';

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('check')
    .description('check state files, records and claims; report leaks (exit 0 clean, 1 findings, 2 errors)')
    .addHelpText('after', '\nEach network is read under its lock, so a concurrent ADD or DEL never shows half-done.');
  addSilenceOption(cmd, 'cluster mode: report nodes that hold leases and have not claimed or released for this long');
  addConfigOptions(addCommonOptions(cmd, { lock: true })).action(act((opts: CheckOpts, c: Command) => check(opts, c)));
}

type CheckOpts = CommonOpts & ConfigOpts & SilenceOpts;

/** What leasehold gc frees: leaks the rule calls freeable, and holds that ended. */
const gcFrees = (f: Finding): boolean => f.leak !== undefined || f.kind === 'hold-expired';

export async function check(opts: CheckOpts, cmd: Command): Promise<number> {
  const stores = storesFor(cmd, opts);
  const { dataDir, configs } = stores;
  configs.problems.forEach(warn);
  const facts = readFacts(opts.silentAfter);
  const networks = await stores.existing(opts);
  const checked: Array<{ network: string; config: string | null; leases: number; claims: number; findings: number }> = [];
  const all: Finding[] = [];
  for (const network of networks) {
    const found = configs.byNetwork.get(network);
    const reader = await stores.of(network).readLocked(network, opts.lockTimeout);
    const snap = await snapshotOf(reader).finally(() => reader.close());
    const f = findings(snap, facts, found?.conf);
    checked.push({ network, config: found?.file ?? null, leases: snap.leases.length, claims: snap.claims.length, findings: f.length });
    all.push(...f);
  }
  const code = all.length > 0 ? EXIT.findings : EXIT.ok;
  if (opts.json) {
    out(
      json({
        clean: all.length === 0,
        dataDir,
        networks: checked,
        findings: all.map(({ leak: _leak, ...f }) => ({ ...f, freeable: gcFrees({ ...f, leak: _leak }) })),
      }),
    );
    return code;
  }
  for (const c of checked) {
    const ranges = c.config ? `ranges from ${c.config}` : 'no config: ranges not checked';
    out(`${c.network}: ${c.leases} lease(s), ${c.claims} claim(s), ${ranges}: ${c.findings === 0 ? 'ok' : `${c.findings} finding(s)`}`);
  }
  if (networks.length === 0) out(`no networks in ${dataDir}`);
  if (all.length > 0) {
    out('');
    out(
      table(
        ['NETWORK', 'FINDING', 'DETAIL'],
        all.map((f) => [f.network, f.kind, f.detail]),
      ),
    );
    const freeable = all.filter(gcFrees).length;
    if (freeable > 0) out(`\n${freeable} finding(s) are leaks that leasehold gc frees (see leasehold gc --dry-run)`);
  }
  return code;
}
