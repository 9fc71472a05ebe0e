// What every command shares: exit codes, the one error type that becomes a one-line reason, the common
// options (--data-dir, --network, --json, --lock-timeout) and the facts leak decisions rest on.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_LOCK_TIMEOUT_MS } from '../config/load.js';
import { readBootId, readBootTimeMs } from '../base/host.js';
import { isValidId } from '../base/ids.js';
import type { LeakFacts } from '../allocator/leaks.js';
import { DiskStore } from '../store/disk/disk-store.js';

export const EXIT = { ok: 0, findings: 1, error: 2 } as const;

/** An operator-facing failure: printed as `leasehold: <message>`, never with a stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

export interface CommonOpts {
  dataDir: string;
  network?: string;
  json?: boolean;
  lockTimeout: number;
}

export function intArg(min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function addCommonOptions(cmd: Command, opts: { lock?: boolean } = {}): Command {
  cmd
    .option('--data-dir <dir>', 'leasehold/host-local data directory', DEFAULT_DATA_DIR)
    .option('--network <name>', 'only this network (default: every network found)')
    .option('--json', 'machine-readable output (shapes in docs/cli.md)');
  if (opts.lock) {
    cmd.addOption(
      new Option('--lock-timeout <ms>', 'how long to wait for a network lock').default(DEFAULT_LOCK_TIMEOUT_MS).argParser(intArg(0, 600_000)),
    );
  }
  return cmd;
}

/** The store of the data directory a command works on. */
export const storeOf = (opts: Pick<CommonOpts, 'dataDir'>): DiskStore => new DiskStore(resolve(opts.dataDir));

/** The networks a command works on: --network (which must exist, or be configured) or all of them. */
export async function selectNetworks(store: DiskStore, opts: CommonOpts, configured: string[] = []): Promise<string[]> {
  if (opts.network !== undefined) {
    if (!isValidId(opts.network)) throw new CliError(`--network ${JSON.stringify(opts.network)} is not a network name`);
    if (!(await store.has(opts.network)) && !configured.includes(opts.network)) {
      const found = await store.networks();
      throw new CliError(`no network ${opts.network} in ${store.location} (found: ${found.length ? found.join(', ') : 'none'})`);
    }
    return [opts.network];
  }
  return [...new Set([...(await store.networks()), ...configured])].sort();
}

/** The facts leak decisions rest on (see allocator/leaks.ts), read once per command, and the time. */
export interface Facts extends LeakFacts {
  bootId: string | null;
  bootTimeMs: number | null;
  netnsExists: (path: string) => boolean;
  now: number;
}

export const readFacts = (): Facts => ({ bootId: readBootId(), bootTimeMs: readBootTimeMs(), netnsExists: (p) => existsSync(p), now: Date.now() });

export const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

export const warn = (text: string): void => {
  process.stderr.write(`leasehold: ${text}\n`);
};

/** Wraps a command body so its exit code reaches runCli. */
export type Act = <A extends unknown[]>(body: (...args: A) => number | Promise<number>) => (...args: A) => Promise<void>;

/** The selected networks that have state (the ones a command can lock, judge and free). */
export async function existingNetworks(store: DiskStore, opts: CommonOpts): Promise<string[]> {
  const out: string[] = [];
  for (const n of await selectNetworks(store, opts)) if (await store.has(n)) out.push(n);
  return out;
}
