// deploy/Containerfile builds the installer image of each architecture from the one file: Podman (buildah) sets
// TARGETARCH from --platform, and the image must hold that architecture's executable. Podman runs with its own
// storage in a temp dir (vfs), and the base image is a busybox-static rootfs imported under the Containerfile's
// FROM name with the target's architecture, so nothing is pulled and the host's images are never touched.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ARCHES, type ArchName, executable } from '../../scripts/arch.mjs';
import { cleanupAll, isRoot, makeTempDir, NOT_ROOT_REASON, removeDir, REPO, runOk } from './helpers.js';

const PODMAN = '/usr/bin/podman';
const BASE = readFileSync(join(REPO, 'deploy', 'Containerfile'), 'utf8').match(/^FROM (\S+)$/m)![1]!;
const sha256 = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

describe.skipIf(!isRoot)(`${isRoot ? '' : `[${NOT_ROOT_REASON}] `}deploy/Containerfile, built by Podman for each architecture`, () => {
  let work = '';
  let podman: (args: string[]) => ReturnType<typeof runOk>;

  beforeAll(async () => {
    work = makeTempDir('lh-e2e-image');
    const storage = ['--root', join(work, 'root'), '--runroot', join(work, 'runroot'), '--storage-driver', 'vfs'];
    podman = (args) => runOk(PODMAN, [...storage, ...args], { timeoutMs: 120_000 });
    const rootfs = join(work, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
    await runOk('tar', ['-C', rootfs, '-cf', join(work, 'rootfs.tar'), '.']);
    // The build context: dist/ with the executables only.
    mkdirSync(join(work, 'context', 'dist'), { recursive: true });
    for (const arch of Object.keys(ARCHES) as ArchName[]) {
      if (!existsSync(executable(arch))) continue;
      const to = join(work, 'context', 'dist', `leasehold-${arch}`);
      try {
        linkSync(executable(arch), to);
      } catch {
        copyFileSync(executable(arch), to);
      }
    }
  }, 60_000);

  afterAll(async () => {
    await cleanupAll([() => podman?.(['rmi', '--all', '--force']), () => removeDir(work)]);
  }, 120_000);

  for (const arch of Object.keys(ARCHES) as ArchName[]) {
    test.skipIf(!existsSync(executable(arch)))(
      `${arch}: the image is ${arch} and holds dist/leasehold-${arch} as /leasehold`,
      async () => {
        await podman(['import', '--os', 'linux', '--arch', arch, join(work, 'rootfs.tar'), BASE]);
        const tag = `localhost/leasehold-installer-test:${arch}`;
        await podman(['build', '--pull=never', '--platform', `linux/${arch}`, '-f', join(REPO, 'deploy', 'Containerfile'), '-t', tag, join(work, 'context')]);
        expect((await podman(['image', 'inspect', tag, '--format', '{{.Os}}/{{.Architecture}}'])).stdout.trim()).toBe(`linux/${arch}`);
        const dir = (await podman(['image', 'mount', tag])).stdout.trim();
        try {
          expect(sha256(join(dir, 'leasehold'))).toBe(sha256(executable(arch)));
        } finally {
          await podman(['image', 'unmount', tag]);
        }
      },
      120_000,
    );
  }
});
