// leasehold gc: frees what check flags as leaked, or (--keep-from) every lease not in a list of live
// attachments. Each network is judged and freed under its lock, so concurrent ADDs are never lost.
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import * as z from 'zod/mini';
import { type Leak, notValid, orphanClaims } from '../../allocator/leaks.js';
import { networkExists, snapshot, withNetworkLock } from '../../store/networks.js';
import { byLeak, leaks } from '../analysis.js';
import { type Act, CliError, type CommonOpts, EXIT, addCommonOptions, readFacts, selectNetworks, warn } from '../context.js';
import { type Freed, describeLeak, freeLeak, printFreed } from '../freeing.js';

interface GcOpts extends CommonOpts {
  dryRun?: boolean;
  keepFrom?: string;
  force?: boolean;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('gc')
    .description('free leaked leases: from an earlier boot or with their netns gone, and unowned claims from an earlier boot')
    .option('--dry-run', 'print what would be freed; change nothing')
    .option('--keep-from <file>', 'JSON list of live attachments [{"containerID":..,"ifname":..}] ("-" for stdin): free every other lease')
    .option('--force', 'with --keep-from, accept an empty list (frees every lease)')
    .addHelpText(
      'after',
      '\nWith --keep-from, every lease and unowned claim whose attachment is not listed is freed, except those\nwritten after the file: an ADD that raced the list is not freed.',
    );
  addCommonOptions(cmd, { lock: true }).action(act((opts: GcOpts) => gc(opts)));
}

const attachments = z.array(z.looseObject({ containerID: z.string(), ifname: z.string() }));

/** The live attachments, and the time they were listed (leases created later are kept). */
function readKeepList(file: string, force: boolean): { valid: Array<{ containerID: string; ifname: string }>; listedAt: number } {
  let text: string;
  let listedAt: number;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
    // Whole milliseconds, as lease createdAt has: a lease from the same millisecond is kept.
    listedAt = Math.floor(file === '-' ? Date.now() : statSync(file).mtimeMs);
  } catch (e) {
    throw new CliError(`cannot read --keep-from ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`--keep-from ${file} is not valid JSON (${(e as Error).message.slice(0, 100)})`);
  }
  const r = attachments.safeParse(parsed);
  if (!r.success) throw new CliError(`--keep-from ${file} must be a JSON list of {"containerID": string, "ifname": string}`);
  if (r.data.length === 0 && !force) throw new CliError(`--keep-from ${file} lists no attachments: that frees every lease; add --force if you mean it`);
  return { valid: r.data.map(({ containerID, ifname }) => ({ containerID, ifname })), listedAt };
}

export function gc(opts: GcOpts): number {
  const keep = opts.keepFrom === undefined ? undefined : readKeepList(opts.keepFrom, opts.force === true);
  const facts = readFacts();
  const freed: Freed[] = [];
  const refused: string[] = [];
  for (const network of selectNetworks(opts).filter((n) => networkExists(opts.dataDir, n))) {
    withNetworkLock(opts.dataDir, network, opts.lockTimeout, (store) => {
      const snap = snapshot(store);
      if (snap.unreadable.length > 0) {
        // A record we cannot read may be a live container's: freeing "its" claims could hand them out twice.
        refused.push(`${network}: skipped, ${snap.unreadable[0]!.path} is unreadable (${snap.unreadable[0]!.why}); run leasehold check`);
        return;
      }
      let targets: Leak[] = leaks(snap, facts).flatMap((f) => (f.leak ? [f.leak] : []));
      if (keep) {
        // Every lease and unowned claim whose attachment is not listed, unless it is newer than the list.
        const before = (l: Leak): boolean =>
          l.lease ? Date.parse(l.lease.createdAt) < keep.listedAt : (snap.claims.find((c) => c.address === l.address)?.mtimeMs ?? Infinity) < keep.listedAt;
        targets = notValid(snap.leases, keep.valid, orphanClaims(snap.leases, snap.claims)).filter(before);
      }
      targets.sort(byLeak);
      for (const leak of targets) freed.push(opts.dryRun ? describeLeak(network, leak) : freeLeak(store, leak));
    });
  }
  printFreed(freed, opts, { refused });
  refused.forEach(warn);
  return refused.length > 0 ? EXIT.error : EXIT.ok;
}
