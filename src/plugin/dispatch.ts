// The CNI protocol: environment and stdin in, exactly one JSON document (result or error) out, through a
// table of verbs (as libcni's skel does). Each verb's module is loaded only when it runs, and VERSION touches
// neither the config parser nor an IP library. Nothing but this module writes to stdout on the plugin path.
import { existsSync } from 'node:fs';
import { CniError, Code } from '../base/errors.js';
import { nowMs } from '../base/proc.js';
import { MAX_STDIN, readStdinOnce, stdinIsTerminal } from '../base/stdin.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, atLeast, isSupported } from '../base/versions.js';
import type { NetConf } from '../config/load.js';
import type { Store } from '../store/store.js';
import { type CniEnv, type Verb as VerbName, readEnv } from './env.js';
import type { OpLine } from './oplog.js';
import type { Outcome, Verb } from './verb.js';

/** The network config on stdin, or the CNI error that reading it met. */
export function readStdin(): string {
  const read = readStdinOnce();
  if ('failed' in read) throw new CniError(Code.IoFailure, `reading stdin failed (${read.failed})`);
  if ('tooLarge' in read) throw new CniError(Code.DecodeFailure, `network config on stdin is larger than ${MAX_STDIN} bytes; pass the network config only`);
  return read.text;
}

/** Reads just enough of stdin to answer in the caller's version, even when the rest is invalid. */
export function peekVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown })?.cniVersion;
    return typeof v === 'string' && v !== '' ? v : '0.1.0';
  } catch {
    return CURRENT_VERSION;
  }
}

interface VerbEntry {
  /** The first cniVersion that defines the verb. */
  since?: string;
  load: () => Promise<Verb>;
}

const VERBS: Record<Exclude<VerbName, 'VERSION'>, VerbEntry> = {
  ADD: { load: async () => (await import('./verbs/add.js')).add },
  DEL: { load: async () => (await import('./verbs/del.js')).del },
  CHECK: { since: '0.4.0', load: async () => (await import('./verbs/check.js')).check },
  GC: { since: '1.1.0', load: async () => (await import('./verbs/gc.js')).gc },
  STATUS: { since: '1.1.0', load: async () => (await import('./verbs/status.js')).status },
};

/** What the dispatcher depends on, injectable so tests can run it in-process with a fake store. */
export interface PluginDeps {
  /** The store of the network `conf` names, for `verb` (STATUS bounds its calls to etcd). */
  storeFor(conf: NetConf, verb?: VerbName): Promise<Store>;
  /** Whether stdin is a terminal (an operator typing VERSION by hand): then it is not read. */
  stdinIsTerminal(): boolean;
}

export const defaultDeps: PluginDeps = {
  storeFor: async (conf, verb) => {
    const cluster = conf.cluster;
    if (!cluster) return new (await import('../store/disk/disk-store.js')).DiskStore(conf.dataDir);
    const [{ EtcdStore }, { loadNative }, until] = await Promise.all([
      import('../store/etcd/etcd-store.js'),
      import('../base/native.js'),
      verb === 'STATUS' ? import('./verbs/status.js').then((m) => m.statusDeadline(cluster)) : undefined,
    ]);
    // The addon's sockets. It is loaded once per process: a verb that locks has it (or has said why not) from the
    // network's directory already; STATUS, which takes no lock, maps it here from an unnamed file in the data dir,
    // which leaves nothing there. A node with no data dir yet (no ADD so far) has nowhere to map it: node:net, said
    // nowhere, since containerd's STATUS every few seconds would repeat it; any other failure is said once.
    const load = () =>
      existsSync(conf.dataDir)
        ? loadNative(conf.dataDir, (why) => process.stderr.write(`leasehold: socket addon unavailable (${why}); calling etcd through node:net\n`))
        : null;
    return new EtcdStore({ cluster, dataDir: conf.dataDir, sockets: { kind: 'addon', load }, until });
  },
  stdinIsTerminal,
};

export interface PluginRun {
  stdout: string;
  exitCode: number;
}

const reply = (body: unknown, exitCode: number): PluginRun => ({ stdout: `${JSON.stringify(body)}\n`, exitCode });

function versionReply(stdin: () => string, deps: PluginDeps): PluginRun {
  // stdin is optional for VERSION; answer in the asked-for version when it is one we speak.
  let asked: string | undefined;
  try {
    asked = deps.stdinIsTerminal() ? undefined : peekVersion(stdin());
  } catch {
    asked = undefined;
  }
  return reply({ cniVersion: asked && isSupported(asked) ? asked : CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS }, 0);
}

export async function runPlugin(env: NodeJS.ProcessEnv, stdin: () => string, deps: PluginDeps = defaultDeps): Promise<PluginRun> {
  const started = nowMs();
  let version = CURRENT_VERSION;
  let cni: CniEnv | undefined;
  let conf: NetConf | undefined;
  const log = async (line: Omit<OpLine, 'time' | 'verb' | 'network' | 'containerID' | 'ifname' | 'ms'>): Promise<void> => {
    if (!conf?.logFile || !cni) return;
    const { appendOpLog } = await import('./oplog.js');
    appendOpLog(conf, { verb: cni.command, network: conf.name, containerID: cni.containerID, ifname: cni.ifname, ...line, ms: nowMs() - started });
  };
  try {
    cni = readEnv(env);
    if (cni.command === 'VERSION') return versionReply(stdin, deps);
    const entry = VERBS[cni.command];
    const text = stdin();
    version = peekVersion(text);
    if (!isSupported(version)) version = CURRENT_VERSION;
    const [{ parseCniArgs }, { loadNetConf }] = await Promise.all([import('../config/cni-args.js'), import('../config/load.js')]);
    const args = parseCniArgs(cni.args, cni.command !== 'DEL');
    conf = loadNetConf(text, args);
    if (entry.since && !atLeast(conf.cniVersion, entry.since)) {
      throw new CniError(Code.IncompatibleVersion, `${cni.command} needs cniVersion ${entry.since} or later; the config says ${conf.cniVersion}`);
    }
    const [verb, store] = await Promise.all([entry.load(), deps.storeFor(conf, cni.command)]);
    const out: Outcome = await verb({
      conf,
      store,
      att: { containerID: cni.containerID, ifname: cni.ifname },
      netns: cni.netns,
      podNamespace: args.podNamespace,
      podName: args.podName,
      podUid: args.podUid,
    });
    await log({ ok: true, addresses: out.addresses, lockWaitMs: out.lockWaitMs });
    return { stdout: out.output ? `${JSON.stringify(out.output)}\n` : '', exitCode: 0 };
  } catch (err) {
    let e: CniError;
    if (err instanceof CniError) e = err;
    else {
      // A bug, not an operator error: keep the stack on stderr for the report, and the message on stdout.
      process.stderr.write(`leasehold: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      e = new CniError(Code.Internal, `internal error: ${(err as Error)?.message ?? String(err)}; please report it with the stderr output`);
    }
    await log({ ok: false, code: e.code, msg: e.message });
    return reply({ cniVersion: conf?.cniVersion ?? version, code: e.code, msg: e.message, details: e.details }, 1);
  }
}
