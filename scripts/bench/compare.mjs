// node scripts/bench/compare.mjs <executable A> <executable B>: two builds of leasehold side by side, on the
// same machine at the same time. Each round runs the floor, then A and B (in alternating order) for VERSION,
// ADD (new), CHECK (the ADD's result as prevResult) and DEL; the report gives each build's median ratio to
// the floor and the median of B ÷ A per round. Then bursts of COMPARE_BURST
// concurrent ADDs alternate A, B, A, B, ... (COMPARE_BURST_REPEATS each) on fresh networks.
// COMPARE_ROUNDS (default 20). Not part of npm run bench: for deciding whether a change pays.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { baseNode } from '../sea.mjs';
import { BARE_ENV, burst, cniEnv, leaseholdConf, loadText, median, quantile, timeOnce } from './lib.mjs';

const [A, B] = process.argv.slice(2).map((p) => resolve(p));
if (!A || !B) throw new Error('usage: node scripts/bench/compare.mjs <executable A> <executable B>');
const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 20);
const BURST = Number(process.env.COMPARE_BURST ?? 100);
const REPEATS = Number(process.env.COMPARE_BURST_REPEATS ?? 3);
const NODE = baseNode();
const work = mkdtempSync(join(tmpdir(), 'leasehold-compare-'));
const empty = join(work, 'empty.js');
writeFileSync(empty, '');
const la = loadText;
const cni = cniEnv;
const conf = (dir, ipam = {}) => JSON.stringify(leaseholdConf(dir, '10.220.0.0/16', ipam));
const time = (cmd, env, input) => timeOnce(cmd, [], env, input).ms;
const floorRun = () => time(NODE, BARE_ENV);
const added = {};
const run = (k, verb, id) => {
  if (verb === 'VERSION') return time(bins[k], cni('VERSION', id), '{"cniVersion":"1.0.0"}');
  const prevResult = verb === 'CHECK' ? { prevResult: JSON.parse(added[k]) } : {};
  const r = timeOnce(bins[k], [], cni(verb, id), JSON.stringify({ ...leaseholdConf(data[k], '10.220.0.0/16'), ...prevResult }));
  if (verb === 'ADD') added[k] = r.out;
  return r.ms;
};

console.log(`A = ${A}\nB = ${B}\n${cpus().length} cores; load average ${la()}`);
const bins = { A, B };
const data = { A: join(work, 'A'), B: join(work, 'B') };
const cells = {};
const floors = [];
for (let i = 0; i < ROUNDS + 2; i++) {
  for (const verb of ['VERSION', 'ADD', 'CHECK', 'DEL']) {
    const f = floorRun();
    const ms = {};
    for (const k of i % 2 ? ['B', 'A'] : ['A', 'B']) ms[k] = run(k, verb, `c${i}`);
    if (i < 2) continue;
    floors.push(f);
    cells[verb] ??= { A: [], B: [], BA: [], msA: [], msB: [] };
    const c = cells[verb];
    c.A.push(ms.A / f);
    c.B.push(ms.B / f);
    c.BA.push(ms.B / ms.A);
    c.msA.push(ms.A);
    c.msB.push(ms.B);
  }
}
console.log(`\n${ROUNDS} rounds (floor, A, B per verb); floor p50 ${median(floors).toFixed(1)} ms; load average now ${la()}`);
for (const [verb, c] of Object.entries(cells))
  console.log(
    `  ${verb.padEnd(8)} A ${median(c.A).toFixed(2)} × floor (${median(c.msA).toFixed(1)} ms)   B ${median(c.B).toFixed(2)} × floor (${median(c.msB).toFixed(1)} ms)   B ÷ A ${median(c.BA).toFixed(2)}`,
  );

console.log(`\nbursts of ${BURST}, alternating; wall ÷ (n × one ADD's wall ÷ cores), one ADD = median of 5 just before`);
const walls = { A: [], B: [] };
for (let r = 0; r < REPEATS; r++) {
  for (const k of ['A', 'B']) {
    const solo = join(work, `solo-${k}-${r}`);
    const single = median(Array.from({ length: 5 }, (_, i) => time(bins[k], cni('ADD', `s${i}`), conf(solo))));
    const dir = join(work, `burst-${k}-${r}`);
    const b = await burst(bins[k], leaseholdConf(dir, '10.220.0.0/16', { logFile: join(dir, 'ops.log') }), BURST);
    console.log(
      `  ${k} #${r + 1}: ${b.wallMs.toFixed(0)} ms = ${(b.wallMs / ((BURST * single) / cpus().length)).toFixed(2)} × budget (one ADD ${single.toFixed(1)} ms); ${b.errors} errors, ${b.distinct} distinct, lock wait p99 ${quantile(b.waits, 0.99).toFixed(0)} ms; load ${la()}`,
    );
    walls[k].push(b.wallMs);
    rmSync(dir, { recursive: true, force: true });
    rmSync(solo, { recursive: true, force: true });
  }
}
console.log(`  burst wall B ÷ A, per pair: ${walls.B.map((b, i) => (b / walls.A[i]).toFixed(2)).join(' ')}`);
rmSync(work, { recursive: true, force: true });
