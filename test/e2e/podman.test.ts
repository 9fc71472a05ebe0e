// End-to-end with a real runtime: Podman (CNI backend) runs containers on a
// bridge network whose IPAM is the plugin under test.
//
// Podman is fully sandboxed: private containers.conf (CONTAINERS_CONF), private
// network_config_dir, --root/--runroot/tmp_dir in a temp dir, vfs storage, runc,
// cgroupfs, and an image imported from a busybox-static rootfs built here.
// Each knob keeps Podman off the host: nothing of its own config, storage or network state is used.

import { accessSync, constants as fsConstants, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  assertIpamPluginPresent,
  cleanupAll,
  CNI_PATH,
  deleteLink,
  describeRun,
  dumpLeaseDir,
  filesMentioning,
  IPAM_TYPE,
  isRoot,
  leasedIps,
  pingEachOther,
  makeTempDir,
  NOT_ROOT_REASON,
  pluginConfFromList,
  pollUntil,
  randSuffix,
  removeDir,
  run,
  uniqueIfName,
  type RunResult,
} from './helpers.js';

const STEP_TIMEOUT = 60_000;
const HOOK_TIMEOUT = 90_000;
const PODMAN = '/usr/bin/podman';
const RUNC = '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';
const IMAGE = 'localhost/leasehold-e2e-bb:latest';
// Own subnet so that this file can run in parallel with bridge.test.ts (10.244.1.0/24).
const SUBNET = '10.244.77.0/24';

describe.skipIf(!isRoot)(`${isRoot ? '' : `[${NOT_ROOT_REASON}] `}Podman (CNI backend) with IPAM "${IPAM_TYPE}"`, () => {
  const suffix = randSuffix(3);
  const network = `lhpm-${suffix}`;
  const bridge = uniqueIfName('lhp');
  let base = '';
  let dataDir = '';
  let env: NodeJS.ProcessEnv = {};
  let globalArgs: string[] = [];
  const names = [`lhe2e-${suffix}-1`, `lhe2e-${suffix}-2`];
  const ids: string[] = [];
  const ips: string[] = [];

  async function podman(args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return run(PODMAN, [...globalArgs, ...args], { env, timeoutMs });
  }

  async function podmanOk(args: string[], timeoutMs = 60_000): Promise<RunResult> {
    const r = await podman(args, timeoutMs);
    if (r.code !== 0) {
      throw new Error(
        `podman failed (CONTAINERS_CONF=${env.CONTAINERS_CONF})\n${describeRun(r)}\n` +
          `containers.conf:\n${readFileSync(env.CONTAINERS_CONF!, 'utf8')}\nlease dir:\n${dumpLeaseDir(dataDir, network)}`,
      );
    }
    return r;
  }

  async function eth0Address(name: string): Promise<string> {
    const r = await podmanOk(['exec', name, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    const m = /\binet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(r.stdout);
    if (!m) throw new Error(`no IPv4 address on eth0 of ${name}\n${describeRun(r)}`);
    return m[1]!;
  }

  beforeAll(async () => {
    assertIpamPluginPresent(); // missing dist/leasehold must fail, not skip
    for (const bin of [PODMAN, RUNC, BUSYBOX]) accessSync(bin, fsConstants.X_OK);

    base = makeTempDir('lh-e2e-podman');
    dataDir = join(base, 'leases');
    const netconf = join(base, 'netconf');
    const rootfs = join(base, 'rootfs');
    for (const d of [dataDir, netconf, join(rootfs, 'bin'), join(base, 'tmp')]) mkdirSync(d, { recursive: true });

    // Image: busybox-static rootfs -> tar -> podman import
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    for (const applet of ['sh', 'ip', 'ping', 'sleep', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', applet));
    const tarball = join(base, 'rootfs.tar');
    const tar = await run('tar', ['-C', rootfs, '-cf', tarball, '.']);
    if (tar.code !== 0) throw new Error(describeRun(tar));

    // Network: 10-pods-bridge with a unique name/bridge/subnet and private dataDir.
    const plugin = pluginConfFromList('10-pods-bridge.conflist', {
      plugin: { bridge },
      ipam: { dataDir, ranges: [[{ subnet: SUBNET }]] },
    });
    const { name: _n, cniVersion: _v, ...pluginOnly } = plugin;
    const conflist = { cniVersion: '1.0.0', name: network, plugins: [pluginOnly] }; // Podman 4.3 rejects 1.1.0
    writeFileSync(join(netconf, `${network}.conflist`), JSON.stringify(conflist, null, 2));

    const conf = join(base, 'containers.conf');
    const pluginDirs = CNI_PATH.split(':');
    writeFileSync(
      conf,
      [
        '[containers]',
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]', // crun/runc setrlimit EPERM otherwise
        '[engine]',
        'runtime = "runc"', // crun fails here (hybrid cgroups)
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = ${JSON.stringify(join(base, 'tmp'))}`,
        '[network]',
        'network_backend = "cni"',
        `cni_plugin_dirs = ${JSON.stringify(pluginDirs)}`,
        `network_config_dir = ${JSON.stringify(netconf)}`,
        '',
      ].join('\n'),
    );
    env = { ...process.env, CONTAINERS_CONF: conf };
    globalArgs = ['--root', join(base, 'root'), '--runroot', join(base, 'runroot'), '--storage-driver', 'vfs'];

    await podmanOk(['import', tarball, IMAGE]);
    const nets = await podmanOk(['network', 'ls', '--format', '{{.Name}}']);
    expect(nets.stdout.split('\n')).toContain(network);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    if (!base) return;
    await cleanupAll([
      () => podman(['rm', '--all', '--force', '--time', '0']),
      async () => {
        // anything Podman left mounted under our temp dir (e.g. container shm) must go before rm -rf
        const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
          .split('\n')
          .map((l) => l.split(' ')[4])
          .filter((m): m is string => !!m && m.startsWith(base))
          .sort((a, b) => b.length - a.length);
        for (const m of mounts) await run('umount', ['-l', m]);
      },
      () => deleteLink(bridge), // Podman leaves the bridge it created
      () => removeDir(base),
    ]);
  }, HOOK_TIMEOUT);

  test(
    "each container's eth0 carries the address recorded in its lease",
    async () => {
      for (const name of names) {
        const r = await podmanOk(['run', '-d', '--name', name, '--network', network, IMAGE, 'sleep', '300']);
        const id = r.stdout.trim().split('\n').pop()!;
        expect(id).toMatch(/^[0-9a-f]{64}$/);
        ids.push(id);
      }
      for (let i = 0; i < names.length; i++) {
        const ip = await eth0Address(names[i]!);
        ips.push(ip);
        expect(ip.startsWith('10.244.77.')).toBe(true);
        expect(leasedIps(dataDir, network, ids[i]!), `lease for ${names[i]} (${ids[i]})\n${dumpLeaseDir(dataDir, network)}`).toEqual([ip]);
      }
      expect(ips[0]).not.toBe(ips[1]);
    },
    STEP_TIMEOUT,
  );

  test(
    'the two containers ping each other',
    async () => {
      expect(ips, 'previous step failed').toHaveLength(2);
      await pingEachOther([names[0]!, names[1]!], ips, async (from, to) => {
        const r = await podman(['exec', from, 'ping', '-c1', '-W2', to]);
        return r.code === 0 ? r : podman(['exec', from, 'ping', '-c1', '-W2', to]);
      });
    },
    STEP_TIMEOUT,
  );

  test(
    'removing a container releases its lease (and only its lease)',
    async () => {
      expect(ids, 'previous step failed').toHaveLength(2);
      await podmanOk(['rm', '--force', '--time', '0', names[0]!]);
      const left = await pollUntil(
        () => filesMentioning(dataDir, network, ids[0]!),
        (f) => f.length === 0,
        15_000,
      );
      expect(left, `lease of removed container ${ids[0]} still present\n${dumpLeaseDir(dataDir, network)}`).toEqual([]);
      expect(leasedIps(dataDir, network, ids[1]!), dumpLeaseDir(dataDir, network)).toEqual([ips[1]]);

      await podmanOk(['rm', '--force', '--time', '0', names[1]!]);
      const left2 = await pollUntil(
        () => filesMentioning(dataDir, network, ids[1]!),
        (f) => f.length === 0,
        15_000,
      );
      expect(left2, `lease of removed container ${ids[1]} still present\n${dumpLeaseDir(dataDir, network)}`).toEqual([]);
    },
    STEP_TIMEOUT,
  );

  test(
    "a detached --rm container that exits on its own is released by Podman's cleanup process",
    async () => {
      // The DEL comes from `podman container cleanup` spawned by conmon, ~100 ms after exit,
      // with a minimal environment (CNI vars, CONTAINERS_CONF, HOME, PATH, PWD, TMPDIR, XDG_RUNTIME_DIR).
      const r = await podmanOk(['run', '-d', '--rm', '--network', network, IMAGE, 'sleep', '1']);
      const id = r.stdout.trim().split('\n').pop()!;
      expect(filesMentioning(dataDir, network, id).length, `no lease recorded for ${id}\n${dumpLeaseDir(dataDir, network)}`).toBeGreaterThan(0);
      const left = await pollUntil(
        () => filesMentioning(dataDir, network, id),
        (f) => f.length === 0,
        20_000,
        200,
      );
      expect(left, `lease of exited --rm container ${id} still present after 20 s\n${dumpLeaseDir(dataDir, network)}`).toEqual([]);
    },
    STEP_TIMEOUT,
  );
});
