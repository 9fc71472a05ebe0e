// npm run build [-- --arch amd64|arm64|all]: type-check, bundle with esbuild, then for each architecture
// (this machine's by default; scripts/arch.mjs): compile the flock addon, make the plugin bundle's code caches
// with that architecture's Node, and make the single executable dist/leasehold-<arch> (+ .sha256) on the
// pinned Node 24 LTS. dist/leasehold links to this machine's.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ARCHES, HOST, archesFromArgv, cannotRun, executable, nodePackageDir, workDir } from './arch.mjs';
import { bundleOptions } from './bundle-options.mjs';
import { makeCodeCache } from './code-cache.mjs';
import { buildSea } from './sea.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const arches = archesFromArgv(process.argv.slice(2));
const work = workDir(HOST);
const bundles = { plugin: 'leasehold.cjs', cli: 'leasehold-cli.cjs', seaMain: 'sea-main.cjs', trainer: 'train-code-cache.cjs' };

execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });
mkdirSync(work, { recursive: true });
mkdirSync(join(root, 'dist'), { recursive: true });

const common = bundleOptions(version);
// The plugin and the operator CLI are two bundles, both embedded as assets; the executable's main script
// runs the plugin one with its code cache (src/sea-main.ts), and the plugin loads the CLI (src/cli/load.ts).
// The bundles are the same for every architecture.
await build({ ...common, entryPoints: [join(root, 'src', 'entry.ts')], outfile: join(work, bundles.plugin) });
await build({ ...common, entryPoints: [join(root, 'src', 'cli', 'index.ts')], outfile: join(work, bundles.cli) });
await build({ ...common, entryPoints: [join(root, 'src', 'sea-main.ts')], outfile: join(work, bundles.seaMain) });
await build({ ...common, entryPoints: [join(root, 'scripts', 'train-code-cache.ts')], outfile: join(work, bundles.trainer) });

async function buildFor(arch) {
  const started = performance.now();
  // Its code caches are made by running its Node, so another architecture's build needs the emulator.
  const why = cannotRun(arch) ?? (spawnSync(ARCHES[arch].cc, ['--version']).status === 0 ? undefined : `${ARCHES[arch].cc} is not installed`);
  if (why) throw new Error(`cannot build for ${arch}: ${why} (scripts/setup.sh installs what it needs)`);
  const dir = workDir(arch);
  mkdirSync(dir, { recursive: true });
  if (dir !== work) for (const b of Object.values(bundles)) copyFileSync(join(work, b), join(dir, b));
  const addon = join(dir, 'native.node');
  // Node-API is ABI-stable: built against the target Node's headers, it loads in the embedded Node 24.
  const headers = [join(nodePackageDir(arch), 'include', 'node'), '/usr/include/node'];
  execFileSync(
    ARCHES[arch].cc,
    [
      '-O2',
      '-Wall',
      '-Werror',
      '-shared',
      '-fPIC',
      '-DNAPI_VERSION=8',
      ...headers.map((h) => `-I${h}`),
      '-o',
      addon,
      join(root, 'native', 'flock.c'),
      join(root, 'native', 'socket.c'),
    ],
    { stdio: 'inherit' },
  );
  const caches = { disk: join(dir, 'leasehold.cache'), cluster: join(dir, 'leasehold-cluster.cache') };
  await makeCodeCache({ trainer: join(dir, bundles.trainer), bundle: join(dir, bundles.plugin), ...caches, arch });
  const out = executable(arch);
  const sha = await buildSea({
    bundle: join(dir, bundles.seaMain),
    out,
    workDir: join(dir, 'sea'),
    arch,
    assets: {
      'native.node': addon,
      'leasehold-cli.cjs': join(dir, bundles.cli),
      'leasehold.cjs': join(dir, bundles.plugin),
      'leasehold.cache': caches.disk,
      'leasehold-cluster.cache': caches.cluster,
    },
  });
  if (arch === HOST) {
    // Replaced by a rename, like the executable, so dist/leasehold always names a whole one.
    const link = join(root, 'dist', 'leasehold');
    const tmp = `${link}.tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    symlinkSync(basename(out), tmp);
    renameSync(tmp, link);
  }
  console.log(`built ${out} in ${((performance.now() - started) / 1000).toFixed(0)} s (sha256 ${sha.slice(0, 16)}…)`);
}

for (const arch of arches) await buildFor(arch);
