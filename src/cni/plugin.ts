// The CNI protocol: environment and stdin in, exactly one JSON document (result or error) out.
// Nothing but this module writes to stdout on the plugin path.
import { fstatSync, readSync } from 'node:fs';
import { add } from '../commands/add.js';
import { check } from '../commands/check.js';
import { del } from '../commands/del.js';
import { gc } from '../commands/gc.js';
import type { Outcome } from '../commands/outcome.js';
import { status } from '../commands/status.js';
import { type NetConf, loadNetConf, peekVersion } from '../config/load.js';
import { parseCniArgs } from './args.js';
import { type CniEnv, readEnv } from './env.js';
import { CniError, Code } from './errors.js';
import { appendOpLog } from './oplog.js';
import { nowMs } from '../proc.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, atLeast, isSupported } from './versions.js';

/** Network configs are a few KB; anything past this is a mistake or an attack, refused before parsing. */
export const MAX_STDIN = 1 << 20;

export function readStdin(fd = 0): string {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EOF' || code === 'EBADF' || code === 'ENXIO') break;
      throw new CniError(Code.IoFailure, `reading stdin failed (${code})`);
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_STDIN) throw new CniError(Code.DecodeFailure, `network config on stdin is larger than ${MAX_STDIN} bytes; pass the network config only`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

const MIN_VERSION: Partial<Record<CniEnv['command'], string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

export interface PluginRun {
  stdout: string;
  exitCode: number;
}

export function runPlugin(env: NodeJS.ProcessEnv, stdin: () => string): PluginRun {
  const started = nowMs();
  let version = CURRENT_VERSION;
  let cni: CniEnv | undefined;
  let conf: NetConf | undefined;
  try {
    cni = readEnv(env);
    if (cni.command === 'VERSION') {
      // stdin is optional for VERSION; answer in the asked-for version when it is one we speak. A terminal
      // (an operator typing the command) is not read, or the call would wait for input.
      let asked: string | undefined;
      try {
        asked = fstatSync(0).isCharacterDevice() ? undefined : peekVersion(stdin());
      } catch {
        asked = undefined;
      }
      const v = asked && isSupported(asked) ? asked : CURRENT_VERSION;
      return { stdout: `${JSON.stringify({ cniVersion: v, supportedVersions: SUPPORTED_VERSIONS })}\n`, exitCode: 0 };
    }
    const text = stdin();
    version = peekVersion(text);
    if (!isSupported(version)) version = CURRENT_VERSION;
    const args = parseCniArgs(cni.args, cni.command !== 'DEL');
    conf = loadNetConf(text, args);
    const min = MIN_VERSION[cni.command];
    if (min && !atLeast(conf.cniVersion, min)) {
      throw new CniError(Code.IncompatibleVersion, `${cni.command} needs cniVersion ${min} or later; the config says ${conf.cniVersion}`);
    }
    const att = { containerId: cni.containerId, ifname: cni.ifname, netns: cni.netns, podNamespace: args.podNamespace, podName: args.podName };
    let out: Outcome;
    switch (cni.command) {
      case 'ADD':
        out = add(conf, att);
        break;
      case 'DEL':
        out = del(conf, att);
        break;
      case 'CHECK':
        out = check(conf, att);
        break;
      case 'GC':
        out = gc(conf);
        break;
      case 'STATUS':
        out = status(conf);
        break;
    }
    appendOpLog(conf, cni, { ok: true, addresses: out.addresses, lockWaitMs: out.lockWaitMs, ms: nowMs() - started });
    return { stdout: out.output ? `${JSON.stringify(out.output)}\n` : '', exitCode: 0 };
  } catch (err) {
    let e: CniError;
    if (err instanceof CniError) e = err;
    else {
      // A bug, not an operator error: keep the stack on stderr for the report, and the message on stdout.
      process.stderr.write(`leasehold: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      e = new CniError(Code.Internal, `internal error: ${(err as Error)?.message ?? String(err)}; please report it with the stderr output`);
    }
    if (conf && cni) appendOpLog(conf, cni, { ok: false, code: e.code, msg: e.message, ms: nowMs() - started });
    const body = { cniVersion: conf?.cniVersion ?? version, code: e.code, msg: e.message, details: e.details };
    return { stdout: `${JSON.stringify(body)}\n`, exitCode: 1 };
  }
}
