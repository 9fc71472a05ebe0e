// ipam.logFile: one JSON line per operation, for operators (never stdout). Size-based rotation keeps one
// previous file (<logFile>.1). Logging must never fail the operation it records.
import { appendFileSync, renameSync, statSync } from 'node:fs';
import type { NetConf } from '../config/load.js';
import type { CniEnv } from './env.js';

export interface OpFacts {
  ok: boolean;
  addresses?: string[];
  code?: number;
  msg?: string;
  lockWaitMs?: number;
  ms: number;
}

export function appendOpLog(conf: NetConf, cni: CniEnv, facts: OpFacts): void {
  if (!conf.logFile) return;
  try {
    try {
      if (statSync(conf.logFile).size >= conf.logMaxBytes) renameSync(conf.logFile, `${conf.logFile}.1`);
    } catch {
      /* no log yet */
    }
    const line = {
      time: new Date().toISOString(),
      verb: cni.command,
      network: conf.name,
      containerID: cni.containerId || undefined,
      ifname: cni.ifname || undefined,
      ...facts,
      lockWaitMs: facts.lockWaitMs === undefined ? undefined : Math.round(facts.lockWaitMs * 10) / 10,
      ms: Math.round(facts.ms * 10) / 10,
    };
    appendFileSync(conf.logFile, `${JSON.stringify(line)}\n`, { mode: 0o600 });
  } catch (e) {
    process.stderr.write(`leasehold: cannot write log ${conf.logFile}: ${(e as Error).message}\n`);
  }
}
