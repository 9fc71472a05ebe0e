// leasehold gc: frees what check flags as leaked, or (--keep-from) every lease not in a list of live
// attachments. Each network is judged and freed under its lock, so concurrent ADDs are never lost.
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { type LeakFacts, findLeaks } from '../../allocator/leaks.js';
import type { Attachment } from '../../base/ids.js';
import { isAttachmentList } from '../../config/schema.js';
import { byLeak, judgeable, leakFacts } from '../analysis.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { type Act, CliError, type CommonOpts, EXIT, addCommonOptions, readFacts, readInput, warn } from '../context.js';
import { type Freed, describeHold, describeLeak, freeLeak, printFreed } from '../freeing.js';
import { endHolds, expiredCooling, expiredHolds } from '../holds.js';
import { snapshotOf, withExistingNetwork } from '../snapshot.js';
import { storesFor } from '../stores.js';

interface GcOpts extends CommonOpts, ConfigOpts {
  dryRun?: boolean;
  keepFrom?: string;
  force?: boolean;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('gc')
    .description('free leaked leases (from an earlier boot or with their netns gone), unowned claims from an earlier boot, and holds that ended')
    .option('--dry-run', 'print what would be freed; change nothing')
    .option('--keep-from <file>', 'JSON list of live attachments [{"containerID":..,"ifname":..}] ("-" for stdin): free every other lease')
    .option('--force', 'with --keep-from, accept an empty list (frees every lease)')
    .addHelpText(
      'after',
      '\nWith --keep-from, every lease and unowned claim whose attachment is not listed is freed, except those\nwritten after the file: an ADD that raced the list is not freed.',
    );
  addConfigOptions(addCommonOptions(cmd, { lock: true })).action(act((opts: GcOpts, c: Command) => gc(opts, c)));
}

/** The live attachments, and the time they were listed (leases created later are kept). */
function readKeepList(file: string, force: boolean): { valid: Attachment[]; listedAt: number } {
  let text: string;
  let listedAt: number;
  try {
    text = file === '-' ? readInput() : readFileSync(file, 'utf8');
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
  if (!isAttachmentList(parsed)) throw new CliError(`--keep-from ${file} must be a JSON list of {"containerID": string, "ifname": string}`);
  if (parsed.length === 0 && !force) throw new CliError(`--keep-from ${file} lists no attachments: that frees every lease; add --force if you mean it`);
  return { valid: parsed.map(({ containerID, ifname }) => ({ containerID, ifname })), listedAt };
}

export async function gc(opts: GcOpts, cmd: Command): Promise<number> {
  const keep = opts.keepFrom === undefined ? undefined : readKeepList(opts.keepFrom, opts.force === true);
  const facts = readFacts();
  const stores = storesFor(cmd, opts);
  const freed: Freed[] = [];
  const refused: string[] = [];
  for (const network of await stores.existing(opts)) {
    await withExistingNetwork(stores.of(network), network, opts.lockTimeout, async (session) => {
      const snap = await snapshotOf(session);
      if (snap.unreadable.length > 0) {
        // A record we cannot read may be a live container's: freeing "its" claims could hand them out twice.
        refused.push(`${network}: skipped, ${snap.unreadable[0]!.path} is unreadable (${snap.unreadable[0]!.why}); run leasehold check`);
        return;
      }
      // With --keep-from the list is the only fact; otherwise this boot and the live netns decide.
      const judged: LeakFacts = keep ? { valid: keep.valid, listedAt: keep.listedAt } : leakFacts(snap, facts);
      const { leases, claims } = judgeable(snap);
      const targets = findLeaks(leases, claims, judged)
        .filter((l) => l.freeable)
        .sort(byLeak);
      for (const leak of targets) freed.push(opts.dryRun ? describeLeak(network, leak) : await freeLeak(session, leak));
      // Holds whose pod never came back, and cooldowns that are over (these delay nothing: only tidied).
      const ended = expiredHolds(snap, facts.now);
      if (opts.dryRun) freed.push(...ended.map((h) => describeHold(network, h, 'hold-expired')));
      else {
        for (const { hold, addresses } of await endHolds(session, ended)) freed.push(describeHold(network, hold, 'hold-expired', addresses));
        await session.endCooling(expiredCooling(snap, facts.now).map((c) => c.address));
      }
    });
  }
  printFreed(freed, opts, { refused });
  refused.forEach(warn);
  return refused.length > 0 ? EXIT.error : EXIT.ok;
}
