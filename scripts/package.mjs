// npm run package [-- OUTDIR] [--arch amd64|arm64|all]: dist/ (or OUTDIR)/leasehold_<version>_<arch>.deb from the
// built dist/leasehold-<arch>, for every architecture by default, with dpkg-deb only; prints each path.
// It installs the plugin where runtimes look for CNI plugins (/opt/cni/bin/leasehold), the gc timer's units
// (/lib/systemd/system/leasehold-gc.{service,timer}, not enabled: see the README) and the docs and example
// configs under /usr/share/doc/leasehold. Run `npm run build:all` first. No Depends: flock comes from util-linux,
// which is Essential on Debian and Ubuntu.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHES, archesFromArgv, executable } from './arch.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version, description, license } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const argv = process.argv.slice(2);
const arches = archesFromArgv(argv, Object.keys(ARCHES));
const outDir = resolve(argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--arch') ?? join(root, 'dist'));
for (const arch of arches) {
  if (!existsSync(executable(arch))) {
    console.error(`package: ${relative(root, executable(arch))} is missing: run \`npm run build -- --arch ${arch}\` (or npm run build:all) first`);
    process.exit(2);
  }
}
for (const arch of arches) console.log(debFor(arch));

function debFor(arch) {
  const name = `leasehold_${version}_${arch}`;
  const stage = join(outDir, `.${name}.stage`);
  const out = join(outDir, `${name}.deb`);
  rmSync(stage, { recursive: true, force: true });

  function put(src, dest, mode) {
    const target = join(stage, dest);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(src, target);
    chmodSync(target, mode);
  }

  put(executable(arch), 'opt/cni/bin/leasehold', 0o755);
  for (const unit of ['leasehold-gc.service', 'leasehold-gc.timer']) put(join(root, 'deploy', 'systemd', unit), `lib/systemd/system/${unit}`, 0o644);
  const doc = 'usr/share/doc/leasehold';
  put(join(root, 'README.md'), `${doc}/README.md`, 0o644);
  for (const f of readdirSync(join(root, 'docs'))) put(join(root, 'docs', f), `${doc}/${f}`, 0o644);
  for (const f of readdirSync(join(root, 'conf.d'))) put(join(root, 'conf.d', f), `${doc}/examples/${f}`, 0o644);
  writeFileSync(
    join(stage, doc, 'copyright'),
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: leasehold',
      '',
      'Files: *',
      `License: ${license}`,
      ` On Debian systems, the full text of the ${license} license is in /usr/share/common-licenses/${license}.`,
      '',
    ].join('\n'),
  );

  function files(dir) {
    return readdirSync(dir).flatMap((e) => {
      const p = join(dir, e);
      return statSync(p).isDirectory() ? files(p) : [p];
    });
  }
  const payload = files(stage);
  const installedKiB = Math.ceil(payload.reduce((n, p) => n + statSync(p).size, 0) / 1024);
  mkdirSync(join(stage, 'DEBIAN'));
  writeFileSync(
    join(stage, 'DEBIAN', 'md5sums'),
    payload.map((p) => `${createHash('md5').update(readFileSync(p)).digest('hex')}  ${relative(stage, p)}\n`).join(''),
  );
  writeFileSync(
    join(stage, 'DEBIAN', 'control'),
    [
      'Package: leasehold',
      `Version: ${version}`,
      `Architecture: ${arch}`,
      'Maintainer: leasehold developers <leasehold@localhost>',
      `Installed-Size: ${installedKiB}`,
      'Recommends: containernetworking-plugins',
      'Section: net',
      'Priority: optional',
      `Description: ${description}`,
      ' A CNI IPAM plugin for Linux nodes, in place of host-local, installed as',
      ' /opt/cni/bin/leasehold; run without CNI_COMMAND it is an operator CLI to see,',
      ' check, release and garbage-collect address leases. leasehold-gc.timer frees,',
      ' every 10 minutes once enabled, the leases of pods the CRI runtime no longer has.',
      '',
    ].join('\n'),
  );

  // gzip -1: xz, or gzip's default level, takes 30-60 s for the ~120 MB executable on a small build machine.
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', stage, out], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(stage, { recursive: true, force: true });
  return out;
}
