// deploy/daemonset.yaml, the installer DaemonSet: there is no cluster to apply it to here, so its paths are
// checked against what runtimes read (/opt/cni/bin) and its install step, the init container's own command, is
// run under containerd with the same mounts kubelet would give it (as root).

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ARCHES } from '../../scripts/arch.mjs';
import { assertIpamPluginPresent, cleanupAll, describeRun, DIST_DIR, isRoot, makeTempDir, NOT_ROOT_REASON, removeDir, REPO } from './helpers.js';
import { BB_IMAGE, ctr, importBusyboxImage, startContainerd, stopContainerd, type PrivateContainerd } from './containerd.js';

const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const ds = parseYaml(readFileSync(join(REPO, 'deploy', 'daemonset.yaml'), 'utf8')) as any;
const pod = ds.spec.template.spec;
const init = pod.initContainers[0];

describe('deploy/daemonset.yaml', () => {
  test("is an apps/v1 DaemonSet whose pods run on every node, on the node's network", () => {
    expect([ds.apiVersion, ds.kind]).toEqual(['apps/v1', 'DaemonSet']);
    expect(ds.spec.selector.matchLabels).toEqual(ds.spec.template.metadata.labels);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.initContainers).toHaveLength(1);
    expect(pod.containers).toHaveLength(1);
  });

  test('runs on the Linux nodes of every architecture leasehold is built for, and no other', () => {
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: Object.keys(ARCHES) }] },
    ]);
  });

  test("mounts the node's /opt/cni/bin, and the init container copies the plugin there under its type name", () => {
    const volume = pod.volumes.find((v: any) => v.hostPath);
    expect(volume.hostPath).toEqual({ path: '/opt/cni/bin', type: 'DirectoryOrCreate' });
    const mount = init.volumeMounts.find((m: any) => m.name === volume.name);
    expect(mount.mountPath).toBe('/host/opt/cni/bin');
    const script = [...init.command, ...init.args].join(' ');
    // written to a temp name on the same file system, then renamed: a runtime never runs a half-written file
    expect(script).toMatch(
      /cp \/leasehold \/host\/opt\/cni\/bin\/\.leasehold\.new .*mv -f \/host\/opt\/cni\/bin\/\.leasehold\.new \/host\/opt\/cni\/bin\/leasehold$/,
    );
  });

  test("the gc container runs the timer's command every 10 minutes, with the runtime's socket, data dir and configs where it looks by default", () => {
    const gc = pod.containers[0];
    expect(gc.name).toBe('gc');
    expect(gc.image).toBe(init.image);
    const service = readFileSync(join(REPO, 'deploy', 'systemd', 'leasehold-gc.service'), 'utf8');
    const timerCommand = /^ExecStart=\/opt\/cni\/bin\/(.+)$/m.exec(service)![1]!;
    expect([...gc.command, ...gc.args].join(' ')).toBe(`/bin/sh -c while true; do /${timerCommand}; sleep 600; done`);
    const hostPathOf = (name: string) => pod.volumes.find((v: any) => v.name === name).hostPath;
    const mounts = Object.fromEntries(gc.volumeMounts.map((m: any) => [m.mountPath, hostPathOf(m.name)]));
    expect(mounts).toEqual({
      '/run/containerd/containerd.sock': { path: '/run/containerd/containerd.sock', type: 'Socket' },
      '/var/lib/cni/networks': { path: '/var/lib/cni/networks', type: 'DirectoryOrCreate' },
      '/etc/cni/net.d': { path: '/etc/cni/net.d', type: 'DirectoryOrCreate' },
    });
  });

  test("the installer image is the package's version and holds the plugin where the init container reads it", () => {
    expect(init.image).toBe(`leasehold-installer:${version}`);
    const containerfile = readFileSync(join(REPO, 'deploy', 'Containerfile'), 'utf8');
    // The image's architecture picks the executable: dist/leasehold-amd64 or dist/leasehold-arm64.
    expect(containerfile).toMatch(/^ARG TARGETARCH$/m);
    expect(containerfile).toMatch(/^COPY dist\/leasehold-\$\{TARGETARCH\} \/leasehold$/m);
  });
});

describe.skipIf(!isRoot)("the DaemonSet's install step, run by containerd with the DaemonSet's mounts", () => {
  let base = '';
  let cd: PrivateContainerd | undefined;

  beforeAll(async () => {
    assertIpamPluginPresent();
    base = makeTempDir('lh-e2e-ds');
    cd = await startContainerd(join(base, 'containerd'));
    await importBusyboxImage(cd, join(base, 'image'));
  }, 120_000);

  afterAll(async () => {
    await cleanupAll([() => cd && stopContainerd(cd), () => removeDir(base)]);
  }, 120_000);

  test("copies dist/leasehold to the node's /opt/cni/bin/leasehold (mode 0755, no temp file left), twice", async () => {
    const nodeBin = makeTempDir('lh-e2e-ds-node-bin'); // stands for the node's /opt/cni/bin
    try {
      const mount = init.volumeMounts[0].mountPath as string;
      for (const round of [1, 2]) {
        const r = await ctr(
          cd!,
          [
            'run',
            '--rm',
            '--mount',
            `type=bind,src=${join(DIST_DIR, 'leasehold')},dst=/leasehold,options=rbind:ro`,
            '--mount',
            `type=bind,src=${nodeBin},dst=${mount},options=rbind:rw`,
            BB_IMAGE,
            `ds-install-${round}`,
            ...init.command,
            ...init.args,
          ],
          { timeoutMs: 60_000 },
        );
        expect(r.code, describeRun(r)).toBe(0);
      }
      expect(readdirSync(nodeBin)).toEqual(['leasehold']);
      const installed = join(nodeBin, 'leasehold');
      expect(statSync(installed).mode & 0o777).toBe(0o755);
      const sum = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
      expect(sum(installed)).toBe(sum(join(DIST_DIR, 'leasehold')));
    } finally {
      removeDir(nodeBin);
    }
  }, 90_000);
});

if (!isRoot) {
  describe('daemonset install step', () => {
    test.skip(NOT_ROOT_REASON, () => {});
  });
}
