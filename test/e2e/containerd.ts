// A private containerd 1.6 for the end-to-end tests, and `ctr run --cni` inside a sandbox.
//
// containerd runs with its own config, root, state and socket under a temp dir (CRI off, so it neither opens a
// port nor watches /etc/cni/net.d) and is stopped by PID. `ctr` is what runs the CNI plugins, from go-cni's
// fixed paths (/etc/cni/net.d, /opt/cni/bin:/usr/lib/cni, /var/lib/cni): each ctr call runs in a test network
// namespace (so the bridge lives there, not on the host) and a private mount namespace where the test's folders
// are bind-mounted over those paths. A missing mount point is made inside an overlay of its nearest existing
// parent, so the host's folders stay untouched. Facts: shared/notes/containerd-ctr-cni-on-these-machines.md.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupAll,
  createNetns,
  filesMentioning,
  deleteNetns,
  describeRun,
  loadConfList,
  makeTempDir,
  netnsPath,
  pollUntil,
  randSuffix,
  removeDir,
  run,
  runOk,
  type RunOptions,
  type RunResult,
} from './helpers.js';

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const RUNC = '/usr/sbin/runc';
export const BUSYBOX = '/bin/busybox';
export const BB_IMAGE = 'localhost/leasehold-e2e-bb:latest';
/** containerd namespace of the tests' containers: CNI_CONTAINERID is `<namespace>-<id>`. */
export const CTR_NAMESPACE = 'leasehold-e2e';
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PrivateContainerd {
  base: string;
  socket: string;
  pid: number;
  log: string;
  /** folders under /run/containerd that did not exist before this containerd, deepest first */
  runDirsCreated: string[];
}

const RUN_DIR = '/run/containerd';

/** Starts containerd on a socket under `base` and waits until `ctr version` answers. */
export async function startContainerd(base: string): Promise<PrivateContainerd> {
  for (const bin of [CONTAINERD, CTR, RUNC, BUSYBOX]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: install containerd, runc and busybox-static (scripts/setup.sh does)`);
  }
  for (const d of ['root', 'state', 'opt']) mkdirSync(join(base, d), { recursive: true });
  const socket = join(base, 'containerd.sock');
  const config = join(base, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(join(base, 'root'))}`,
      `state = ${JSON.stringify(join(base, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(socket)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(base, 'opt'))}`,
      '',
    ].join('\n'),
  );
  const runDirsCreated = ['fifo', 'runc', 's', ''].map((d) => join(RUN_DIR, d).replace(/\/$/, '')).filter((d) => !existsSync(d));
  const log = join(base, 'containerd.log');
  const fd = openSync(log, 'a');
  const child = spawn(CONTAINERD, ['--config', config], { stdio: ['ignore', fd, fd], env: { PATH: SYSTEM_PATH }, detached: true });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${CONTAINERD}`);
  const cd: PrivateContainerd = { base, socket, pid, log, runDirsCreated };
  const up = await pollUntil(
    () => run(CTR, ['-a', socket, 'version'], { timeoutMs: 5_000 }),
    (r) => r.code === 0,
    20_000,
    100,
  );
  if (up.code !== 0) {
    await stopContainerd(cd);
    throw new Error(`containerd did not answer on ${socket}\n${describeRun(up)}\ncontainerd log:\n${readFileSync(log, 'utf8').slice(-3000)}`);
  }
  return cd;
}

export function ctr(cd: PrivateContainerd, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(CTR, ['-a', cd.socket, '-n', CTR_NAMESPACE, ...args], { env: { PATH: SYSTEM_PATH }, ...opts });
}

export async function ctrOk(cd: PrivateContainerd, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await ctr(cd, args, opts);
  if (r.code !== 0) throw new Error(`ctr failed\n${describeRun(r)}`);
  return r;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a daemon by its PID: SIGTERM, and SIGKILL if it is still there after 10 s. */
export async function terminate(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  if (
    await pollUntil(
      () => alive(pid),
      (a) => !a,
      10_000,
    )
  )
    process.kill(pid, 'SIGKILL');
}

/** PIDs of the shims serving this containerd (their command line names its socket). */
function shimPids(cd: PrivateContainerd): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.startsWith('/usr/bin/containerd-shim') && cmdline.includes(cd.socket)) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

/**
 * Kills and deletes every task and container of the test namespace, stops containerd by its PID, then its
 * shims (if any outlived their tasks) and unmounts whatever is still mounted under `base`.
 */
export async function stopContainerd(cd: PrivateContainerd): Promise<void> {
  if (alive(cd.pid)) {
    const tasks = await ctr(cd, ['tasks', 'ls', '-q']);
    for (const id of tasks.stdout.split('\n').filter(Boolean)) {
      await ctr(cd, ['tasks', 'kill', '-s', 'SIGKILL', id]);
      await ctr(cd, ['tasks', 'rm', '-f', id]);
    }
    const containers = await ctr(cd, ['containers', 'ls', '-q']);
    for (const id of containers.stdout.split('\n').filter(Boolean)) await ctr(cd, ['containers', 'rm', id]);
    await terminate(cd.pid);
  }
  for (const pid of shimPids(cd)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* exited meanwhile */
    }
  }
  await unmountUnder(cd.base);
  // The shims' sockets, runc's state and ctr's fifos live under fixed folders in /run/containerd: remove the
  // (now empty) ones this run created, never anything another containerd may use.
  for (const dir of [join(RUN_DIR, 'runc', CTR_NAMESPACE), ...cd.runDirsCreated]) {
    try {
      rmdirSync(dir);
    } catch {
      /* not empty or absent: not ours to remove */
    }
  }
}

/** Lazily unmounts every mount point under `dir`, deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]);
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Builds an OCI image archive from /bin/busybox (busybox-static) with no registry: a one-layer rootfs (busybox,
 * one symlink per applet, /etc/passwd), its config (with `image.cmd`), manifest, oci-layout and an index.json
 * naming it `image.name` (BB_IMAGE unless told).
 */
export async function buildBusyboxImage(dir: string, image: { name: string; cmd: string[] } = { name: BB_IMAGE, cmd: ['sh'] }): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  const layout = join(dir, 'oci');
  const blobs = join(layout, 'blobs', 'sha256');
  for (const d of [join(rootfs, 'bin'), join(rootfs, 'etc'), join(rootfs, 'proc'), join(rootfs, 'sys'), join(rootfs, 'dev'), join(rootfs, 'tmp'), blobs]) {
    mkdirSync(d, { recursive: true });
  }
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  const applets = (await runOk(BUSYBOX, ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const applet of applets) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\n');

  const layerTar = join(dir, 'layer.tar');
  await runOk('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', layerTar, '.']);
  const layer = readFileSync(layerTar);
  const blob = (data: Buffer | string): { digest: string; size: number } => {
    const hex = sha256(data);
    writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
  };
  const layerDesc = blob(layer);
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: image.cmd, WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layerDesc.digest] }, // uncompressed layer: diff id = digest
  });
  const configDesc = blob(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configDesc },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerDesc }],
  });
  const manifestDesc = blob(manifest);
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifestDesc,
          annotations: { 'io.containerd.image.name': image.name, 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  const archive = join(dir, 'busybox-oci.tar');
  await runOk('tar', ['-C', layout, '-cf', archive, '.']);
  return archive;
}

export async function importBusyboxImage(cd: PrivateContainerd, workDir: string): Promise<void> {
  const archive = await buildBusyboxImage(workDir);
  await ctrOk(cd, ['images', 'import', archive], { timeoutMs: 60_000 });
}

/** Where go-cni, run by ctr, finds configs, plugins and its result cache (bind-mounted over the fixed paths). */
export interface CniSandbox {
  /** network namespace (name under /var/run/netns) that ctr, and so the bridge, runs in */
  netns: string;
  confDir: string;
  binDir: string;
  cacheDir: string;
  /** overlay upper/work dirs for mount points that do not exist on the host */
  scratch: string;
}

export function makeCniSandbox(base: string, netns: string): CniSandbox {
  const sb = { netns, confDir: join(base, 'net.d'), binDir: join(base, 'bin'), cacheDir: join(base, 'cache'), scratch: join(base, 'scratch') };
  for (const d of [sb.confDir, sb.binDir, sb.cacheDir, sb.scratch]) mkdirSync(d, { recursive: true });
  return sb;
}

/**
 * `sh -c` script for a private mount namespace: `sh SCRATCH SRC DST [SRC DST]... -- COMMAND...` bind-mounts each
 * SRC over DST, then execs COMMAND. When DST does not exist, its nearest existing parent is overlaid (upper in
 * SCRATCH) so the mount point can be made without writing to the host's folder.
 */
export const BIND_OVER_SCRIPT = `set -e
scratch=$1; shift
bindover() {
  src=$1 dst=$2
  if [ ! -d "$dst" ]; then
    top=$dst
    while [ ! -d "$top" ]; do top=$(dirname "$top"); done
    [ "$top" != / ] || { echo "refusing to overlay / for $dst" >&2; exit 1; }
    ov=$(mktemp -d "$scratch/ov.XXXXXX")
    mkdir "$ov/upper" "$ov/work"
    mount -t overlay overlay -o "lowerdir=$top,upperdir=$ov/upper,workdir=$ov/work" "$top"
    mkdir -p "$dst"
  fi
  mount --bind "$src" "$dst"
}
while [ "$1" != -- ]; do bindover "$1" "$2"; shift 2; done
shift
exec "$@"`;

/**
 * nsenter's arguments to run `command` in network namespace `netns` and a new private mount namespace where each
 * [src, dst] of `binds` is bound over dst (BIND_OVER_SCRIPT).
 */
export function bindOverArgs(netns: string, scratch: string, binds: Array<[string, string]>, command: string[]): string[] {
  return [
    `--net=${netnsPath(netns)}`,
    '--',
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    '-c',
    BIND_OVER_SCRIPT,
    'sh',
    scratch,
    ...binds.flat(),
    '--',
    ...command,
  ];
}

/** Runs ctr in the sandbox: the sandbox's network namespace, and its folders at go-cni's fixed paths. */
export function ctrInSandbox(cd: PrivateContainerd, sb: CniSandbox, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const binds: Array<[string, string]> = [
    [sb.confDir, '/etc/cni/net.d'],
    [sb.binDir, '/opt/cni/bin'],
    [sb.cacheDir, '/var/lib/cni'],
  ];
  return run('nsenter', bindOverArgs(sb.netns, sb.scratch, binds, [CTR, '-a', cd.socket, '-n', CTR_NAMESPACE, ...args]), {
    env: { PATH: SYSTEM_PATH },
    timeoutMs: 60_000,
    ...opts,
  });
}

/** PID of a running task, from `ctr tasks ls`. */
export async function taskPid(cd: PrivateContainerd, id: string): Promise<number> {
  const r = await ctrOk(cd, ['tasks', 'ls']);
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  const pid = Number(line?.split(/\s+/)[1]);
  if (!pid) throw new Error(`no running task ${id}\n${describeRun(r)}`);
  return pid;
}

/** IPv4 address (without prefix) on eth0 inside a running task. */
export async function taskEth0(cd: PrivateContainerd, id: string): Promise<{ ip: string; prefix: number }> {
  const r = await ctrOk(cd, ['tasks', 'exec', '--exec-id', `addr-${Date.now()}`, id, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
  const m = /\binet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`no IPv4 address on eth0 of ${id}\n${describeRun(r)}`);
  return { ip: m[1]!, prefix: Number(m[2]) };
}

/** The host's CNI folders (and whether /run/containerd exists), which a test must leave as it found them. */
export function snapshotHostCniPaths(): string {
  const paths = ['/etc/cni/net.d', '/opt/cni', '/opt/cni/bin', '/var/lib/cni'].map((p) =>
    existsSync(p) ? `${p}: ${statSync(p).mtimeMs} ${readdirSync(p).sort().join(',')}` : `${p}: absent`,
  );
  return [...paths, `${RUN_DIR}: ${existsSync(RUN_DIR) ? 'present' : 'absent'}`].join('\n');
}

// ---------------------------------------------------------------------------
// leasehold on a containerd node

export interface LeaseRecord {
  containerID: string;
  ifname: string;
  addresses: string[];
  netns: string;
}

export function leaseRecord(dataDir: string, network: string, containerID: string, ifname = 'eth0'): LeaseRecord | undefined {
  const file = join(dataDir, network, 'leases', `${containerID}@${ifname}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LeaseRecord) : undefined;
}

/** A bridge -> leasehold conflist from conf.d/10-pods-bridge.conflist with the test's subnet, bridge and dataDir. */
export function podsConflist(bridge: string, dataDir: string, subnet: string): Record<string, unknown> {
  const list = loadConfList('10-pods-bridge.conflist');
  const plugin = list.plugins[0]!;
  plugin.bridge = bridge;
  plugin.ipam = { ...plugin.ipam, dataDir, ranges: [[{ subnet }]] };
  return { ...list, name: `lhctrd-${randSuffix(3)}` }; // containerd 1.6 needs cniVersion <= 1.0.0: the file's 1.0.0
}

/**
 * Brings up containerd + image + sandbox with `pluginBin` as /opt/cni/bin/leasehold; used by this file and by
 * the package test, which points it at the installed file.
 */
export async function containerdFixture(prefix: string, subnet: string, plugin: { file: string } | { dir: string }) {
  const base = makeTempDir(prefix);
  const netns = await createNetns('lhctrd');
  const sb: CniSandbox = makeCniSandbox(base, netns);
  if ('dir' in plugin)
    sb.binDir = plugin.dir; // an installed /opt/cni/bin, used as it is
  else copyFileSync(plugin.file, join(sb.binDir, 'leasehold')); // bridge itself comes from /usr/lib/cni on go-cni's path
  const dataDir = join(base, 'leases');
  const conflist = podsConflist('lhctrd0', dataDir, subnet);
  writeFileSync(join(sb.confDir, '10-leasehold.conflist'), JSON.stringify(conflist, null, 2));
  let cd: PrivateContainerd | undefined;
  try {
    cd = await startContainerd(join(base, 'containerd'));
    await importBusyboxImage(cd, join(base, 'image'));
  } catch (e) {
    await cleanupAll([() => cd && stopContainerd(cd), () => deleteNetns(netns), () => removeDir(base)]);
    throw e;
  }
  return {
    base,
    sb,
    cd,
    dataDir,
    network: conflist.name as string,
    cleanup: () => cleanupAll([() => stopContainerd(cd!), () => deleteNetns(netns), () => removeDir(base)]),
  };
}

export type ContainerdFixture = Awaited<ReturnType<typeof containerdFixture>>;

/**
 * `ctr run --rm --cni` of a task that prints eth0's IPv4 address and exits after a while: returns ctr's run, the
 * address printed, the lease seen while the task ran and the files still naming the container after ctr exited
 * (containerd's DEL should leave none, in the lease dir and in go-cni's result cache).
 */
export async function runAttached(fx: ContainerdFixture, id: string) {
  const { cd, sb, dataDir, network } = fx;
  const cniId = `${CTR_NAMESPACE}-${id}`;
  const done = ctrInSandbox(cd, sb, ['run', '--rm', '--cni', BB_IMAGE, id, 'sh', '-c', 'ip -4 -o addr show eth0; sleep 1.5']);
  const during = await pollUntil(
    () => leaseRecord(dataDir, network, cniId),
    (l) => l !== undefined,
    20_000,
    50,
  );
  const r = await done;
  const eth0 = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1];
  const left = [...filesMentioning(dataDir, network, cniId), ...filesMentioning(sb.cacheDir, 'results', cniId)];
  return { run: r, eth0, during, left };
}

/** `leasehold <args> --json` from dist, parsed; exit status kept for the caller to judge. */
export async function leaseholdCli(bin: string, args: string[]): Promise<{ code: number | null; json: any; raw: string }> {
  const r = await run(bin, [...args, '--json'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`leasehold ${args.join(' ')} printed no JSON\n${describeRun(r)}`);
  }
  return { code: r.code, json, raw: describeRun(r) };
}
