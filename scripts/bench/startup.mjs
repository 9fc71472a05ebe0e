// node scripts/bench/startup.mjs: where a plugin start's time goes, as ratios to the embedded Node's bare
// start (empty script), each run paired with a floor run just before it. Not part of npm run bench; the
// figures in docs/performance.md come from it. Needs npm run build first (build/leasehold.cjs, native.node).
//
// 1. Single executables built from variants of the plugin bundle: an empty main (what SEA itself costs),
//    a VERSION-only entry (what VERSION costs when it loads nothing else), the plugin bundle as the main
//    script, that with the SEA's own code cache (made without running it) and with a V8 startup snapshot,
//    and the shipped dist/leasehold (the bundle run with the code cache made by running it).
// 2. Module costs: require() of one src module (and what it imports) in the embedded Node, timed in-process.
// STARTUP_ROUNDS (default 20) sets the rounds; STARTUP_SKIP_SEA=1 runs only part 2.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from '../bundle-options.mjs';
import { baseNode, buildSea } from '../sea.mjs';
import { BARE_ENV, cniEnv, leaseholdConf, loadText, median, quantile, timeOnce } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, 'build', 'startup');
const ROUNDS = Number(process.env.STARTUP_ROUNDS ?? 20);
const NODE = baseNode();
const ADDON = join(root, 'build', 'native.node');
const BUNDLE = join(root, 'build', 'leasehold.cjs');
if (!existsSync(ADDON) || !existsSync(BUNDLE)) throw new Error('run npm run build first');
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'leasehold-startup-'));
const empty = join(work, 'empty.js');
writeFileSync(empty, '');

const p99 = (xs) => quantile(xs, 0.99);
const time = timeOnce;
const floor = () => time(NODE, [empty], BARE_ENV).ms;
const esb = bundleOptions('0.0.0');
const floors = [];

/** cases: [{ name, run() -> ms }]; prints the median of the per-pair ratios. */
function interleave(title, cases) {
  const r = cases.map(() => ({ ms: [], ratio: [] }));
  for (let i = 0; i < ROUNDS + 2; i++) {
    cases.forEach((c, k) => {
      const f = floor();
      const ms = c.run(i);
      if (i < 2) return;
      floors.push(f);
      r[k].ms.push(ms);
      r[k].ratio.push(ms / f);
    });
  }
  console.log(`\n${title} (${ROUNDS} rounds; load average now ${loadText()})`);
  for (const [k, c] of cases.entries())
    console.log(`  ${c.name.padEnd(44)} p50 ${median(r[k].ms).toFixed(1).padStart(6)} ms   ${median(r[k].ratio).toFixed(3)} × floor`);
}

console.log(`${cpus().length} × ${cpus()[0]?.model}; load average ${loadText()}`);

if (process.env.STARTUP_SKIP_SEA !== '1') {
  // A VERSION-only entry: what VERSION could cost if the entry loaded nothing it does not use.
  const versionEntry = join(work, 'version-entry.ts');
  writeFileSync(
    versionEntry,
    `
    import { readSync, fstatSync } from 'node:fs';
    import { CURRENT_VERSION, SUPPORTED_VERSIONS, isSupported } from ${JSON.stringify(join(root, 'src', 'base', 'versions.ts'))};
    import { writeAll } from ${JSON.stringify(join(root, 'src', 'base', 'proc.ts'))};
    let asked;
    try {
      if (!fstatSync(0).isCharacterDevice()) {
        const b = Buffer.alloc(65536); const n = readSync(0, b, 0, b.length, null);
        asked = JSON.parse(b.subarray(0, n).toString()).cniVersion;
      }
    } catch {}
    writeAll(1, JSON.stringify({ cniVersion: asked && isSupported(asked) ? asked : CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS }) + '\\n');
  `,
  );
  await build({ ...esb, entryPoints: [versionEntry], outfile: join(out, 'version.cjs') });
  // The snapshot entry: the whole bundle is evaluated at build time; main() runs after deserialisation.
  const snapEntry = join(work, 'snap-entry.ts');
  writeFileSync(
    snapEntry,
    `
    import { startupSnapshot } from 'node:v8';
    import { main } from ${JSON.stringify(join(root, 'src', 'main.ts'))};
    startupSnapshot.setDeserializeMainFunction(() => {
      main().then((code) => { process.exitCode = code; }, (e) => { process.stderr.write(String(e?.stack ?? e) + '\\n'); process.exitCode = 2; });
    });
  `,
  );
  await build({ ...esb, entryPoints: [snapEntry], outfile: join(out, 'snap.cjs') });
  writeFileSync(join(out, 'empty.cjs'), '');

  const assets = { 'native.node': ADDON };
  const seas = {};
  for (const [name, bundle, seaOptions] of [
    ['empty main', join(out, 'empty.cjs'), {}],
    ['VERSION-only entry', join(out, 'version.cjs'), {}],
    ['plugin bundle as main', BUNDLE, {}],
    ['plugin bundle as main + useCodeCache', BUNDLE, { useCodeCache: true }],
    ['plugin bundle + useSnapshot', join(out, 'snap.cjs'), { useSnapshot: true }],
  ]) {
    const file = join(out, name.replace(/\W+/g, '-'));
    await buildSea({ bundle, out: file, workDir: join(out, 'sea-work'), assets, seaOptions });
    seas[name] = file;
  }
  seas['shipped, trained code cache'] = join(root, 'dist', 'leasehold');

  const version = (bin) => () => time(bin, [], { ...BARE_ENV, CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}').ms;
  interleave('VERSION (or an empty start) in single executables built from', [
    { name: 'bare start of the same Node (pairs with itself)', run: floor },
    { name: 'SEA, empty main', run: () => time(seas['empty main'], [], BARE_ENV).ms },
    ...Object.entries(seas)
      .filter(([n]) => n !== 'empty main')
      .map(([n, bin]) => ({ name: `SEA, ${n}`, run: version(bin) })),
  ]);

  const dataDir = join(work, 'data');
  const conf = JSON.stringify(leaseholdConf(dataDir, '10.210.0.0/16'));
  const cni = cniEnv;
  interleave(
    'ADD of a new attachment (then an untimed DEL) in single executables built from',
    ['plugin bundle as main', 'plugin bundle as main + useCodeCache', 'plugin bundle + useSnapshot', 'shipped, trained code cache'].map((n) => ({
      name: `SEA, ${n}`,
      run: (i) => {
        const id = `${n.length}x${i}`;
        const ms = time(seas[n], [], cni('ADD', id), conf).ms;
        time(seas[n], [], cni('DEL', id), conf);
        return ms;
      },
    })),
  );
}

// Module costs, in-process: require() of a bundle of one module, after a warm-up require of a trivial file.
const modules = [
  ['(a second trivial file)', null],
  ['node:net', 'node:net'],
  ['node:crypto', 'node:crypto'],
  ['node:child_process', 'node:child_process'],
  ['src/config/schema.ts', 'src/config/schema.ts'],
  ['src/net/ip.ts', 'src/net/ip.ts'],
  ['src/base/errors.ts', 'src/base/errors.ts'],
  ['src/base/versions.ts', 'src/base/versions.ts'],
  ['src/config/load.ts', 'src/config/load.ts'],
  ['src/store/disk/disk-store.ts', 'src/store/disk/disk-store.ts'],
  ['src/plugin/verbs/add.ts', 'src/plugin/verbs/add.ts'],
  ['src/plugin/verbs/del.ts', 'src/plugin/verbs/del.ts'],
  ['src/plugin/verbs/check.ts', 'src/plugin/verbs/check.ts'],
  ['src/plugin/dispatch.ts', 'src/plugin/dispatch.ts'],
];
const trivial = join(work, 'trivial.cjs');
writeFileSync(trivial, 'module.exports = 1;\n');
const probes = [];
for (const [name, mod] of modules) {
  let target = join(work, 'trivial2.cjs');
  writeFileSync(target, 'module.exports = 2;\n');
  if (mod) {
    target = join(work, `mod-${probes.length}.cjs`);
    const entry = join(work, `mod-${probes.length}.ts`);
    const spec = mod.startsWith('src/') ? join(root, mod) : mod;
    // Touch what a module exports, so a lazy re-export is evaluated as the plugin would evaluate it.
    writeFileSync(entry, `import * as m from ${JSON.stringify(spec)}; module.exports = Object.keys(m).length;\n`);
    await build({ ...esb, entryPoints: [entry], outfile: target, nodePaths: [join(root, 'node_modules')] });
  }
  const probe = join(work, `probe-${probes.length}.cjs`);
  // t1 is read before process.stdout is touched: its getter builds Node's stream stack (~3-5 ms).
  writeFileSync(
    probe,
    `require(${JSON.stringify(trivial)}); const t0 = process.hrtime.bigint(); require(${JSON.stringify(target)}); const t1 = process.hrtime.bigint(); process.stdout.write(String(Number(t1 - t0) / 1e6));\n`,
  );
  probes.push({ name, probe, ms: [] });
}
for (let i = 0; i < ROUNDS + 2; i++) {
  for (const p of probes) {
    const ms = Number(time(NODE, [p.probe], BARE_ENV).out);
    if (i >= 2) p.ms.push(ms);
  }
}
// Load only ever adds time to an in-process timing, so the 10th percentile is the steadier figure.
const p10 = (xs) => quantile(xs, 0.1);
console.log(`\nrequire() cost in the embedded Node, in-process (${ROUNDS} rounds; load average now ${loadText()})`);
for (const p of probes) console.log(`  ${p.name.padEnd(44)} p10 ${p10(p.ms).toFixed(2).padStart(6)} ms   p50 ${median(p.ms).toFixed(2).padStart(6)} ms`);
if (floors.length) {
  const fl = [median(floors), p99(floors)];
  console.log(`\nfloor p50 ${fl[0].toFixed(1)} ms, p99 ${fl[1].toFixed(1)} ms${fl[1] / fl[0] > 1.5 ? ' (noisy: p99/p50 > 1.5)' : ''}`);
}
rmSync(work, { recursive: true, force: true });
