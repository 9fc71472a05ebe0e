// ipam.logFile: one JSON line per operation, for operators (never stdout). Size-based rotation keeps one
// previous file (<logFile>.1). Logging must never fail the operation it records. The line's type is
// declared here once: the plugin writes it, `leasehold log` parses it.
import { appendFileSync, renameSync, statSync } from 'node:fs';
import { isoTime } from '../base/proc.js';

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

export function appendOpLog(target: LogTarget, line: Omit<OpLine, 'time'>): void {
  const file = target.logFile;
  if (!file) return;
  try {
    try {
      if (statSync(file).size >= target.logMaxBytes) renameSync(file, `${file}.1`);
    } catch {
      /* no log yet */
    }
    const full: OpLine = {
      time: isoTime(),
      ...line,
      containerID: line.containerID || undefined,
      ifname: line.ifname || undefined,
      lockWaitMs: line.lockWaitMs === undefined ? undefined : tenths(line.lockWaitMs),
      ms: tenths(line.ms),
    };
    appendFileSync(file, `${JSON.stringify(full)}\n`, { mode: 0o600 });
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
