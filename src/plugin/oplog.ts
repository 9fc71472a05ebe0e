// ipam.logFile: one JSON line per operation, for operators (never stdout). Size-based rotation keeps one
// previous file (<logFile>.1). Logging must never fail the operation it records. The line's type is
// declared here once: the plugin writes it, `leasehold log` parses it.
import { closeSync, constants, fstatSync, openSync, readSync, renameSync } from 'node:fs';
import { untrusted } from '../base/files.js';
import { isoTime, writeAll } from '../base/proc.js';

export interface OpLine {
  time: string;
  verb: string;
  network: string;
  containerID?: string;
  ifname?: string;
  ok: boolean;
  addresses?: string[];
  code?: number;
  msg?: string;
  lockWaitMs?: number;
  ms: number;
}

export interface LogTarget {
  logFile: string | undefined;
  logMaxBytes: number;
}

const tenths = (n: number): number => Math.round(n * 10) / 10;

/** How every line, and so every log leasehold wrote, begins. */
const LINE_START = '{"time":';
const { O_RDWR, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;

/**
 * The log opened for appending, and its size. The config may come from a namespace's users, so the name is
 * not trusted to be a log: never through a symlink, only a regular file of root's that no one else may
 * write, and only one that is empty or that leasehold wrote (checked on the open descriptor).
 */
function openLog(file: string): { fd: number; size: number } {
  const fd = openSync(file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o600);
  try {
    const st = fstatSync(fd);
    let why = untrusted(st, 'root');
    if (!why && st.size > 0) {
      const head = Buffer.alloc(LINE_START.length);
      if (head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString() !== LINE_START) why = 'is not a leasehold log';
    }
    if (why) throw new Error(`${why}: name a new file, or one leasehold wrote, in a directory of root's`);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

export function appendOpLog(target: LogTarget, line: Omit<OpLine, 'time'>): void {
  const file = target.logFile;
  if (!file) return;
  try {
    let log = openLog(file);
    if (log.size >= target.logMaxBytes) {
      closeSync(log.fd);
      renameSync(file, `${file}.1`);
      log = openLog(file);
    }
    const full: OpLine = {
      time: isoTime(),
      ...line,
      containerID: line.containerID || undefined,
      ifname: line.ifname || undefined,
      lockWaitMs: line.lockWaitMs === undefined ? undefined : tenths(line.lockWaitMs),
      ms: tenths(line.ms),
    };
    try {
      writeAll(log.fd, `${JSON.stringify(full)}\n`);
    } finally {
      closeSync(log.fd);
    }
  } catch (e) {
    process.stderr.write(`leasehold: cannot write log ${file}: ${(e as Error).message}\n`);
  }
}

/** One log line, or undefined when it is not one the plugin writes. */
export function parseOpLine(text: string): OpLine | undefined {
  let v: Partial<OpLine>;
  try {
    v = JSON.parse(text) as Partial<OpLine>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || typeof v.time !== 'string' || typeof v.verb !== 'string' || typeof v.ok !== 'boolean') return undefined;
  return v as OpLine;
}
