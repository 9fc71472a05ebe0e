// A Kubernetes node without kubelet: a private containerd 1.6 with its CRI service on, and a CRI v1 client
// (@grpc/grpc-js with cri/runtime-v1.proto) that sends what kubelet sends. Reusable by any test that needs the
// path every Kubernetes pod takes: RunPodSandbox -> containerd's CRI -> go-cni -> bridge -> leasehold.
//
// The daemon runs in a test network namespace (the bridge and the pods' veths live there) and in a private mount
// namespace held open by a `sleep` (so a restarted daemon finds the same mounts, and the pods' netns bind mounts
// under /var/run/netns survive it). In that mount namespace the test's folders are bound over the paths 1.6 has
// no option for and the ones a node's tools use by default: /run/containerd (socket, shims' sockets, runc state),
// /var/lib/cni (go-cni's result cache, leasehold's default data dir), /opt/cni/bin (the plugins), /etc/cni/net.d.
// So `leasehold gc --cri` with every default, run in that namespace, is run against this node.
// Facts: shared/notes/containerd-cri-on-these-machines.md.

import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { alive, bindOverArgs, terminate, buildBusyboxImage, CONTAINERD, CTR, RUNC, BUSYBOX, unmountUnder } from './containerd.js';
import {
  cleanupAll,
  createNetns,
  deleteNetns,
  describeRun,
  makeTempDir,
  pollUntil,
  randSuffix,
  removeDir,
  run,
  type RunOptions,
  type RunResult,
} from './helpers.js';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The sandbox ("pause") image: busybox sleeping, imported into containerd's k8s.io namespace. */
export const PAUSE_IMAGE = 'localhost/leasehold-e2e-pause:latest';
/** Where the node's paths are inside the daemon's mount namespace. */
export const NODE_PATHS = { run: '/run/containerd', cni: '/var/lib/cni', bin: '/opt/cni/bin', conf: '/etc/cni/net.d' } as const;
export const NODE_SOCKET = `${NODE_PATHS.run}/containerd.sock`;
/** Plugins besides leasehold the node's bin dir gets (containerd runs loopback for every sandbox). */
const SYSTEM_PLUGINS = ['bridge', 'loopback', 'portmap'];

// ---------------------------------------------------------------------------
// The CRI client

const PROTO = join(dirname(fileURLToPath(import.meta.url)), 'cri', 'runtime-v1.proto');

export interface PodMeta {
  name: string;
  namespace: string;
  uid: string;
}

export interface SandboxStatus {
  id: string;
  metadata: PodMeta & { attempt: number };
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  network: { ip: string; additionalIps: Array<{ ip: string }> } | null;
  annotations: Record<string, string>;
}

export interface SandboxItem {
  id: string;
  metadata: PodMeta & { attempt: number };
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
}

/** A CRI v1 RuntimeService client on a unix socket; every call has a deadline. */
export class CriClient {
  private readonly client: grpc.Client &
    Record<string, (request: object, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, res: never) => void) => void>;

  constructor(
    readonly socket: string,
    private readonly deadlineMs = 60_000,
  ) {
    const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as any;
    this.client = new pkg.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  call<T>(method: string, request: object, deadlineMs = this.deadlineMs): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client[method]!(request, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: T) =>
        err ? reject(Object.assign(new Error(`CRI ${method}: ${err.message}`), { code: err.code })) : resolve(res),
      );
    });
  }

  version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call('Version', { version: 'v1' }, 5_000);
  }

  /** RunPodSandbox with the config kubelet sends for a pod on the pod network. */
  async runPod(pod: PodMeta, opts: { logDir: string; annotations?: Record<string, string>; runtimeHandler?: string }): Promise<string> {
    const res = await this.call<{ podSandboxId: string }>('RunPodSandbox', {
      config: podSandboxConfig(pod, opts.logDir, opts.annotations ?? {}),
      runtimeHandler: opts.runtimeHandler ?? '',
    });
    return res.podSandboxId;
  }

  async status(id: string): Promise<SandboxStatus> {
    return (await this.call<{ status: SandboxStatus }>('PodSandboxStatus', { podSandboxId: id })).status;
  }

  stop(id: string): Promise<unknown> {
    return this.call('StopPodSandbox', { podSandboxId: id });
  }

  remove(id: string): Promise<unknown> {
    return this.call('RemovePodSandbox', { podSandboxId: id });
  }

  async list(): Promise<SandboxItem[]> {
    return (await this.call<{ items: SandboxItem[] }>('ListPodSandbox', {})).items;
  }

  close(): void {
    this.client.close();
  }
}

/** What kubelet puts in PodSandboxConfig for an ordinary pod (pkg/kubelet/kuberuntime's generatePodSandboxConfig). */
export function podSandboxConfig(pod: PodMeta, logDir: string, annotations: Record<string, string>): object {
  return {
    metadata: { ...pod, attempt: 0 },
    hostname: pod.name,
    logDirectory: join(logDir, `${pod.namespace}_${pod.name}_${pod.uid}`),
    dnsConfig: { servers: ['10.96.0.10'], searches: [`${pod.namespace}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    portMappings: [],
    labels: { 'io.kubernetes.pod.name': pod.name, 'io.kubernetes.pod.namespace': pod.namespace, 'io.kubernetes.pod.uid': pod.uid, app: 'e2e' },
    annotations: { 'kubernetes.io/config.source': 'api', 'kubernetes.io/config.seen': new Date().toISOString(), ...annotations },
    linux: { cgroupParent: '', securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

export function newPod(name: string, namespace = 'e2e'): PodMeta {
  const h = `${randSuffix(4)}-${randSuffix(2)}-4${randSuffix(2).slice(1)}-a${randSuffix(2).slice(1)}-${randSuffix(6)}`;
  return { name, namespace, uid: h };
}

// ---------------------------------------------------------------------------
// The node

export interface CriNode {
  base: string;
  /** the test network namespace the daemon (and so the bridge) runs in */
  netns: string;
  /** the process holding the private mount namespace */
  holderPid: number;
  containerdPid: number;
  /** the daemon's socket as the host sees it */
  socket: string;
  log: string;
  /** host paths of the folders bound over NODE_PATHS */
  runDir: string;
  cniDir: string;
  binDir: string;
  confDir: string;
  /** leasehold's default data dir on this node, as the host sees it */
  dataDir: string;
  logDir: string;
  config: string;
  cri: CriClient;
}

export interface CriNodeOptions {
  /** conflists written into the node's /etc/cni/net.d, by file name */
  conflists: Record<string, object>;
  /** the leasehold executable, copied to the node's /opt/cni/bin/leasehold */
  plugin: string;
}

function criConfig(node: Pick<CriNode, 'base'>): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  return [
    'version = 2',
    `root = ${JSON.stringify(join(node.base, 'root'))}`,
    `state = ${JSON.stringify(join(node.base, 'state'))}`,
    '[grpc]',
    `  address = ${JSON.stringify(NODE_SOCKET)}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(join(node.base, 'opt'))}`,
    cri,
    `  sandbox_image = ${JSON.stringify(PAUSE_IMAGE)}`,
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    // CRI gives sandboxes oom_score_adj -998, which needs CAP_SYS_RESOURCE these machines do not grant.
    '  restrict_oom_score_adj = true',
    '  enable_selinux = false',
    `${cri.slice(0, -1)}.cni]`,
    `  bin_dir = ${JSON.stringify(NODE_PATHS.bin)}`,
    `  conf_dir = ${JSON.stringify(NODE_PATHS.conf)}`,
    '  max_conf_num = 1',
    `${cri.slice(0, -1)}.containerd]`,
    '  default_runtime_name = "runc"',
    `${cri.slice(0, -1)}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
  ].join('\n');
}

/** Runs a command in the node's mount and network namespaces (where NODE_PATHS are the test's folders). */
export function onNode(node: Pick<CriNode, 'holderPid'>, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('nsenter', ['-t', String(node.holderPid), '-m', '-n', '--', cmd, ...args], { env: { PATH: SYSTEM_PATH }, timeoutMs: 60_000, ...opts });
}

/** Runs a command in a pod's network namespace (a path under /var/run/netns in the node's mount namespace). */
export function inPod(node: Pick<CriNode, 'holderPid'>, podNetns: string, cmd: string, args: string[]): Promise<RunResult> {
  return onNode(node, 'nsenter', [`--net=${podNetns}`, '--', cmd, ...args]);
}

const mntNs = (pid: number): string | undefined => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
};

/** Spawns a detached process whose exec chain (nsenter/unshare/sh exec) keeps its PID. */
function spawnDetached(cmd: string, args: string[], log: string): number {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { PATH: SYSTEM_PATH }, detached: true });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  return child.pid;
}

/** Starts (or restarts) containerd in the node's namespaces and waits until CRI answers. */
export async function startNodeContainerd(node: CriNode): Promise<void> {
  node.containerdPid = spawnDetached('nsenter', ['-t', String(node.holderPid), '-m', '-n', '--', CONTAINERD, '--config', node.config], node.log);
  const cri = new CriClient(node.socket);
  let last: unknown;
  const up = await pollUntil(
    async () => {
      if (!alive(node.containerdPid)) return false;
      try {
        await cri.version();
        return true;
      } catch (e) {
        last = e;
        return false;
      }
    },
    (ok) => ok,
    30_000,
    100,
  );
  cri.close();
  if (!up)
    throw new Error(`containerd's CRI did not answer on ${node.socket} (${String(last)})\ncontainerd log:\n${readFileSync(node.log, 'utf8').slice(-3000)}`);
}

/** Stops containerd by its PID (SIGTERM, then SIGKILL); its shims and pods keep running, as on a node. */
export async function stopNodeContainerd(node: CriNode): Promise<void> {
  if (alive(node.containerdPid)) await terminate(node.containerdPid);
}

/** A node with containerd's CRI on, the pause image imported, leasehold and the conflists installed. */
export async function startCriNode(prefix: string, opts: CriNodeOptions): Promise<CriNode> {
  for (const bin of [CONTAINERD, CTR, RUNC, BUSYBOX]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: install containerd, runc and busybox-static (scripts/setup.sh does)`);
  }
  const base = makeTempDir(prefix);
  const netns = await createNetns('lhcri');
  const d = (name: string): string => {
    const p = join(base, name);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const partial = { base, netns, holderPid: 0, containerdPid: 0 };
  try {
    for (const x of ['root', 'state', 'opt']) d(x);
    const node: CriNode = {
      ...partial,
      socket: join(base, 'run', 'containerd.sock'),
      log: join(base, 'containerd.log'),
      runDir: d('run'),
      cniDir: d('var-lib-cni'),
      binDir: d('bin'),
      confDir: d('net.d'),
      dataDir: join(base, 'var-lib-cni', 'networks'),
      logDir: d('pod-logs'),
      config: join(base, 'config.toml'),
      cri: undefined as unknown as CriClient,
    };
    copyFileSync(opts.plugin, join(node.binDir, 'leasehold'));
    for (const p of SYSTEM_PLUGINS) symlinkSync(join('/usr/lib/cni', p), join(node.binDir, p));
    for (const [file, list] of Object.entries(opts.conflists)) writeFileSync(join(node.confDir, file), JSON.stringify(list, null, 2));
    writeFileSync(node.config, criConfig(node));
    await run('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
    const binds: Array<[string, string]> = [
      [node.runDir, NODE_PATHS.run],
      [node.cniDir, NODE_PATHS.cni],
      [node.binDir, NODE_PATHS.bin],
      [node.confDir, NODE_PATHS.conf],
    ];
    node.holderPid = spawnDetached('nsenter', bindOverArgs(netns, d('scratch'), binds, ['sleep', '1000000']), join(base, 'holder.log'));
    partial.holderPid = node.holderPid;
    const ready = await pollUntil(
      () => {
        try {
          return readFileSync(`/proc/${node.holderPid}/cmdline`, 'utf8').startsWith('sleep');
        } catch {
          return false;
        }
      },
      (r) => r,
      10_000,
      20,
    );
    if (!ready) throw new Error(`the node's mount namespace was not set up\n${readFileSync(join(base, 'holder.log'), 'utf8')}`);
    await startNodeContainerd(node);
    partial.containerdPid = node.containerdPid;
    node.cri = new CriClient(node.socket);
    const archive = await buildBusyboxImage(d('image'), { name: PAUSE_IMAGE, cmd: ['sleep', '1000000'] });
    const imported = await run(CTR, ['-a', node.socket, '-n', 'k8s.io', 'images', 'import', archive], { env: { PATH: SYSTEM_PATH }, timeoutMs: 60_000 });
    if (imported.code !== 0) throw new Error(`image import failed\n${describeRun(imported)}`);
    return node;
  } catch (e) {
    await stopCriNode(partial as CriNode);
    throw e;
  }
}

/**
 * Stops and removes every sandbox, stops containerd, kills whatever still runs in the node's mount namespace
 * (shims, the holder), and removes the netns and the temp dir. Safe on a half-started node.
 */
export async function stopCriNode(node: CriNode): Promise<void> {
  await cleanupAll([
    async () => {
      if (!node.containerdPid || !alive(node.containerdPid)) return;
      const cri = node.cri ?? new CriClient(node.socket);
      for (const sb of await cri.list()) {
        await cri.stop(sb.id).catch(() => undefined);
        await cri.remove(sb.id).catch(() => undefined);
      }
      cri.close();
    },
    () => node.containerdPid && stopNodeContainerd(node),
    () => {
      // The shims run in the node's mount namespace: kill them (and the holder) by PID, found by that namespace.
      const ns = node.holderPid ? mntNs(node.holderPid) : undefined;
      if (!ns) return;
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry) || Number(entry) === node.holderPid) continue;
        if (mntNs(Number(entry)) === ns) process.kill(Number(entry), 'SIGKILL');
      }
      process.kill(node.holderPid, 'SIGKILL');
    },
    () =>
      pollUntil(
        () => node.holderPid !== 0 && alive(node.holderPid),
        (a) => !a,
        5_000,
        20,
      ),
    () => unmountUnder(node.base),
    () => deleteNetns(node.netns),
    () => removeDir(node.base),
  ]);
}
