// leasehold gc: frees what check flags as leaked, or every lease of an attachment a list of live ones does not
// name: a file (--keep-from) or the container runtime's pod sandboxes (--cri). Each network is judged and freed
// under its lock, so concurrent ADDs are never lost.
import { readFileSync, statSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type Claim, type LeakFacts, findLeaks } from '../../allocator/leaks.js';
import type { Attachment } from '../../base/ids.js';
import { isAttachmentList } from '../../config/schema.js';
import { judgeablePart } from '../../store/store.js';
import { byLeak, leakFacts } from '../leak-view.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { type Act, CliError, type CommonOpts, EXIT, addCommonOptions, durationArg, readFacts, readInput, warn } from '../context.js';
import { type Freed, describeHold, describeLeak, freeLeak, printFreed } from '../freeing.js';
import { endHolds, expiredCooling, expiredHolds } from '../holds.js';
import { unlockedSnapshot, snapshotOf, withExistingNetwork } from '../snapshot.js';
import { type Stores, storesFor } from '../stores.js';

/** containerd's socket; CRI-O's is unix:///var/run/crio/crio.sock. */
export const DEFAULT_CRI_ENDPOINT = 'unix:///run/containerd/containerd.sock';

interface GcOpts extends CommonOpts, ConfigOpts {
  dryRun?: boolean;
  keepFrom?: string;
  force?: boolean;
  cri?: string | true;
  grace: number;
  criTimeout: number;
}

/** The live attachments a list names, and when the list holds (leases and claims written later are kept). */
interface KeepList {
  /** The list as container ids (a runtime's sandboxes): every interface of a listed container is live. */
  containers?: Set<string>;
  valid?: Attachment[];
  listedAt: number;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('gc')
    .description(
      'free leaked leases: from an earlier boot or with their netns gone, unowned claims from an earlier boot, and holds that ended; ' +
        'or (--keep-from, --cri) every lease of an attachment the runtime does not list',
    )
    .option('--dry-run', 'print what would be freed; change nothing')
    .option('--keep-from <file>', 'JSON list of live attachments [{"containerID":..,"ifname":..}] ("-" for stdin): free every other lease')
    .option('--force', 'with --keep-from, accept an empty list (frees every lease)')
    .option('--cri [endpoint]', `free every lease of a container the CRI runtime does not list (default endpoint ${DEFAULT_CRI_ENDPOINT})`)
    .addOption(
      new Option('--grace <duration>', 'with --cri, keep leases younger than this (an ADD may be in flight)')
        .default(durationArg('10m'), '10m')
        .argParser(durationArg),
    )
    .addOption(
      new Option('--cri-timeout <duration>', 'with --cri, how long to wait for the runtime to answer before freeing nothing')
        .default(durationArg('10s'), '10s')
        .argParser(durationArg),
    )
    .addHelpText(
      'after',
      '\nWith --keep-from, every lease and unowned claim whose attachment is not listed is freed, except those\nwritten after the file: an ADD that raced the list is not freed.\n' +
        "With --cri, the runtime's pod sandboxes (ListPodSandbox, in any state) are the list, and what was written\nwithin --grace before it is kept; nothing is freed when the runtime cannot be asked, or lists nothing\nwhile some lease is that recent.",
    );
  addConfigOptions(addCommonOptions(cmd, { lock: true })).action(act((opts: GcOpts, c: Command) => gc(opts, c)));
}

/** The live attachments, and the time they were listed (leases created later are kept). */
function readKeepList(file: string, force: boolean): KeepList {
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

/** This node's leases that are younger than the cutoff, in every selected network (read without locks). */
async function recentLeases(stores: Stores, opts: GcOpts, cutoff: number): Promise<string[]> {
  const recent: string[] = [];
  for (const network of await stores.existing(opts)) {
    const { leases } = judgeablePart(await unlockedSnapshot(stores.of(network), network));
    for (const l of leases) if (!(Date.parse(l.createdAt) < cutoff)) recent.push(`${network}: ${l.containerID}/${l.ifname}`);
  }
  return recent;
}

/** The runtime's sandboxes as the keep list; refuses an empty answer while leases are recent. */
async function criKeepList(endpoint: string, grace: number, stores: Stores, opts: GcOpts): Promise<KeepList> {
  const { listPodSandboxes } = await import('../cri.js');
  const askedAt = Date.now();
  const sandboxes = await listPodSandboxes(endpoint, opts.criTimeout);
  const listedAt = askedAt - grace;
  if (sandboxes.length === 0) {
    const recent = await recentLeases(stores, opts, listedAt);
    if (recent.length > 0) {
      throw new CliError(
        `the runtime at ${endpoint} lists no pod sandbox, but ${recent.length} lease(s) are younger than --grace (${recent[0]}): ` +
          'a runtime that just started may not know its sandboxes yet; nothing freed',
      );
    }
  }
  return { containers: new Set(sandboxes.map((s) => s.id)), listedAt };
}

/** A runtime lists containers, the leak rule takes attachments: every lease and claim of a listed container. */
function liveOf(containers: Set<string>, leases: Attachment[], claims: Claim[]): Attachment[] {
  const holders = claims.flatMap((c) => (c.holder ? [c.holder] : []));
  return [...leases, ...holders].filter((a) => containers.has(a.containerID)).map(({ containerID, ifname }) => ({ containerID, ifname }));
}

export async function gc(opts: GcOpts, cmd: Command): Promise<number> {
  if (opts.cri !== undefined && opts.keepFrom !== undefined) throw new CliError('--cri and --keep-from are two lists of live attachments: give one');
  const stores = storesFor(cmd, opts);
  const endpoint = opts.cri === true ? DEFAULT_CRI_ENDPOINT : opts.cri;
  const keep: KeepList | undefined =
    endpoint !== undefined
      ? await criKeepList(endpoint, opts.grace, stores, opts)
      : opts.keepFrom !== undefined
        ? readKeepList(opts.keepFrom, opts.force === true)
        : undefined;
  const facts = readFacts();
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
      // With a list (--keep-from, --cri) it is the only fact; otherwise this boot and the live netns decide.
      const { leases, claims } = judgeablePart(snap);
      const judged: LeakFacts = keep ? { valid: keep.valid ?? liveOf(keep.containers!, leases, claims), listedAt: keep.listedAt } : leakFacts(snap, facts);
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
  printFreed(freed, opts, { refused, ...(endpoint !== undefined ? { runtime: { endpoint, sandboxes: keep!.containers!.size } } : {}) });
  refused.forEach(warn);
  return refused.length > 0 ? EXIT.error : EXIT.ok;
}
