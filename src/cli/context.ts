// What every command shares: exit codes, the one error type that becomes a one-line reason, the common
// options (--data-dir, --network, --json, --lock-timeout) and the facts leak decisions rest on.
import { existsSync, readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_LOCK_TIMEOUT_MS } from '../config/load.js';
import { readBootId, readBootTimeMs } from '../base/host.js';
import { writeAll } from '../base/proc.js';
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

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as 90s, 30m, 24h or 7d, in milliseconds. */
export function durationArg(v: string): number {
  const m = /^(\d+)([smhd])$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected a whole number and a unit: 90s, 30m, 24h or 7d');
  return Number(m[1]) * UNITS[m[2]!]!;
}

export interface SilenceOpts {
  /** Cluster mode: a node that has not claimed or released for this long counts as silent. */
  silentAfter: number;
}

export function addSilenceOption(cmd: Command, meaning: string): Command {
  return cmd.addOption(new Option('--silent-after <duration>', meaning).default(durationArg('24h'), '24h').argParser(durationArg));
}

/** The facts leak decisions rest on (see allocator/leaks.ts), read once per command, and the time. */
export interface Facts extends LeakFacts {
  bootId: string | null;
  bootTimeMs: number | null;
  netnsExists: (path: string) => boolean;
  now: number;
  /** Cluster mode: how long a node may stay silent before check reports it. */
  silentAfterMs: number;
}

export const readFacts = (silentAfterMs = durationArg('24h')): Facts => ({
  bootId: readBootId(),
  bootTimeMs: readBootTimeMs(),
  netnsExists: (p) => existsSync(p),
  now: Date.now(),
  silentAfterMs,
});

/** Where a command reads and writes: the process's streams, or a test's buffers when runCli runs in-process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** All of standard input (for a "-" file argument). */
  stdin(): string;
}

/** Writes to our standard output; when its reader has gone (`leasehold list | head`), stops quietly. */
function toReader(text: string): void {
  try {
    writeAll(1, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
    process.exit(EXIT.ok);
  }
}

export const processIo: CliIo = {
  stdout: toReader,
  stderr: (text) => process.stderr.write(text),
  stdin: () => readFileSync(0, 'utf8'),
};

let io: CliIo = processIo;

/** Runs one CLI invocation with its streams; runCli is the only caller. */
export async function withIo<T>(streams: CliIo, body: () => Promise<T>): Promise<T> {
  const before = io;
  io = streams;
  try {
    return await body();
  } finally {
    io = before;
  }
}

export const out = (text: string): void => {
  io.stdout(text.endsWith('\n') ? text : `${text}\n`);
};

export const warn = (text: string): void => {
  io.stderr(`leasehold: ${text}\n`);
};

/** Standard input, whole: the file argument "-". */
export const readInput = (): string => io.stdin();

/** Wraps a command body so its exit code reaches runCli. */
export type Act = <A extends unknown[]>(body: (...args: A) => number | Promise<number>) => (...args: A) => Promise<void>;
