// What every command shares: exit codes, the one error type that becomes a one-line reason, the common
// options (--data-dir, --network, --json, --lock-timeout) and the facts leak decisions rest on.
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_LOCK_TIMEOUT_MS } from '../config/load.js';
import { readBootId, readBootTimeMs } from '../base/host.js';
import type { LeakFacts } from '../allocator/leaks.js';

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
    cmd.addOption(new Option('--lock-timeout <ms>', 'how long to wait for a network lock').default(DEFAULT_LOCK_TIMEOUT_MS).argParser(intArg(0, 600_000)));
  }
  return cmd;
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
