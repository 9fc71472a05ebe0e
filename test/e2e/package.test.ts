// Installed the way nodes install CNI plugins: `npm run package` builds the .deb, dpkg installs it into a
// throwaway root (its own dpkg database: the machine's packages and its /opt/cni/bin are never touched),
// containerd runs the installed /opt/cni/bin/leasehold, and `dpkg -r` removes every file it installed.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  assertIpamPluginPresent,
  cleanupAll,
  describeRun,
  dumpLeaseDir,
  isRoot,
  listFiles,
  makeTempDir,
  NOT_ROOT_REASON,
  randSuffix,
  removeDir,
  REPO,
  run,
  runOk,
} from './helpers.js';
import { containerdFixture, runAttached, snapshotHostCniPaths, type ContainerdFixture } from './containerd.js';

const HOOK_TIMEOUT = 180_000;
const STEP_TIMEOUT = 90_000;
const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe.skipIf(!isRoot)('the Debian package: dpkg -i, containerd runs the installed plugin, dpkg -r', () => {
  let work = '';
  let root = ''; // the throwaway root dpkg installs into
  let deb = '';
  let fx: ContainerdFixture | undefined;
  let hostBefore = '';
  const dpkg = (args: string[]) => run('dpkg', [`--root=${root}`, ...args], { timeoutMs: 60_000 });

  beforeAll(async () => {
    assertIpamPluginPresent();
    hostBefore = snapshotHostCniPaths();
    work = makeTempDir('lh-e2e-pkg');
    const built = await runOk(process.execPath, [join(REPO, 'scripts', 'package.mjs'), work, '--arch', 'amd64'], { timeoutMs: 150_000 });
    deb = built.stdout.trim();
    expect(deb).toBe(join(work, `leasehold_${version}_amd64.deb`));
    root = join(work, 'root');
    for (const d of ['info', 'updates']) mkdirSync(join(root, 'var', 'lib', 'dpkg', d), { recursive: true });
    writeFileSync(join(root, 'var', 'lib', 'dpkg', 'status'), '');
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await cleanupAll([() => fx?.cleanup(), () => removeDir(work)]);
    expect(snapshotHostCniPaths(), "the host's CNI folders changed").toBe(hostBefore);
  }, HOOK_TIMEOUT);

  test(
    'npm run package: version from package.json, /opt/cni/bin/leasehold, the gc timer and the docs',
    async () => {
      const fields = await runOk('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Architecture']);
      expect(fields.stdout.trim().split('\n')).toEqual(['Package: leasehold', `Version: ${version}`, 'Architecture: amd64']);
      const contents = (await runOk('dpkg-deb', ['--contents', deb])).stdout;
      expect(contents).toMatch(/^-rwxr-xr-x root\/root .* \.\/opt\/cni\/bin\/leasehold$/m);
      for (const unit of ['leasehold-gc.service', 'leasehold-gc.timer']) {
        expect(contents).toMatch(new RegExp(`^-rw-r--r-- root/root .* \\./lib/systemd/system/${unit.replace('.', '\\.')}$`, 'm'));
      }
      for (const doc of ['README.md', 'cli.md', 'copyright', 'examples/10-pods-bridge.conflist']) {
        expect(contents).toContain(`./usr/share/doc/leasehold/${doc}`);
      }
    },
    STEP_TIMEOUT,
  );

  test(
    'dpkg -i installs the same executable as dist/leasehold',
    async () => {
      const r = await dpkg(['-i', deb]);
      expect(r.code, describeRun(r)).toBe(0);
      expect((await dpkg(['-s', 'leasehold'])).stdout).toContain('Status: install ok installed');
      const installed = join(root, 'opt', 'cni', 'bin', 'leasehold');
      expect(sha256(installed)).toBe(sha256(join(REPO, 'dist', 'leasehold')));
      expect((await runOk(installed, ['--version'])).stdout).toContain(`leasehold ${version}`);
    },
    STEP_TIMEOUT,
  );

  test(
    'containerd (ctr run --cni) uses the installed /opt/cni/bin/leasehold: eth0 gets the lease, DEL frees it',
    async () => {
      // the throwaway root's /opt/cni/bin is ctr's /opt/cni/bin: no other leasehold is on go-cni's plugin path
      fx = await containerdFixture('lh-e2e-pkg-ctrd', '10.244.89.0/24', { dir: join(root, 'opt', 'cni', 'bin') });
      const { run: r, eth0, during, left } = await runAttached(fx, `pkg-${randSuffix(2)}`);
      expect(r.code, describeRun(r)).toBe(0);
      expect(during, `no lease seen while the task ran\n${describeRun(r)}`).toBeDefined();
      expect([eth0], describeRun(r)).toEqual(during!.addresses);
      expect(eth0!.startsWith('10.244.89.')).toBe(true);
      expect(left, dumpLeaseDir(fx.dataDir, fx.network)).toEqual([]);
    },
    STEP_TIMEOUT,
  );

  test(
    'dpkg -r removes every file and folder the package installed',
    async () => {
      await fx?.cleanup(); // ctr's bind mount of /opt/cni/bin is gone with its mount namespace; containerd stops
      fx = undefined;
      const r = await dpkg(['-r', 'leasehold']);
      expect(r.code, describeRun(r)).toBe(0);
      const status = await dpkg(['-s', 'leasehold']);
      expect(status.stdout).not.toContain('Status: install ok installed');
      expect(readdirSync(root).sort(), "only dpkg's own database is left in the root").toEqual(['var']);
      expect(listFiles(root).filter((f) => !f.startsWith(join(root, 'var', 'lib', 'dpkg') + '/'))).toEqual([]);
      expect(readdirSync(join(root, 'var', 'lib', 'dpkg', 'info')).filter((f) => f.startsWith('leasehold.'))).toEqual([]);
    },
    STEP_TIMEOUT,
  );
});

if (!isRoot) {
  describe('package e2e', () => {
    test.skip(NOT_ROOT_REASON, () => {});
  });
}
