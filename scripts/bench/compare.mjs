// node scripts/bench/compare.mjs <executable A> <executable B>: two builds of leasehold side by side, on the
// same machine at the same time. Each round runs floor, A, B for VERSION, ADD (new), DEL; the report gives
// each build's median ratio to the floor and the median of B ÷ A per round. Then bursts of COMPARE_BURST
// concurrent ADDs alternate A, B, A, B, ... (COMPARE_BURST_REPEATS each) on fresh networks.
// COMPARE_ROUNDS (default 20). Not part of npm run bench: for deciding whether a change pays.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { baseNode } from '../sea.mjs';

const [A, B] = process.argv.slice(2).map((p) => resolve(p));
if (!A || !B) throw new Error('usage: node scripts/bench/compare.mjs <executable A> <executable B>');
const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 20);
const BURST = Number(process.env.COMPARE_BURST ?? 100);
const REPEATS = Number(process.env.COMPARE_BURST_REPEATS ?? 3);
const NODE = baseNode();
const BARE_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const work = mkdtempSync(join(tmpdir(), 'leasehold-compare-'));
const empty = join(work, 'empty.js');
writeFileSync(empty, '');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const la = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const cni = (cmd, id) => ({ ...BARE_ENV, CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });
const conf = (dir, extra = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'cmp', type: 'bridge', ipam: { type: 'leasehold', dataDir: dir, ranges: [[{ subnet: '10.220.0.0/16' }]], lockTimeoutMs: 120000, ...extra } });
function time(cmd, env, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, [], { env, input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${env.CNI_COMMAND ?? ''} failed: ${r.stdout}${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
function floorRun() {
  const t0 = process.hrtime.bigint();
  spawnSync(NODE, [empty], { env: BARE_ENV });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

console.log(`A = ${A}\nB = ${B}\n${cpus().length} cores; load average ${la()}`);
const bins = { A, B };
const data = { A: join(work, 'A'), B: join(work, 'B') };
const cells = {};
for (let i = 0; i < ROUNDS + 2; i++) {
  for (const verb of ['VERSION', 'ADD', 'DEL']) {
    const f = floorRun();
    const ms = {};
    for (const k of ['A', 'B']) {
      const id = `c${i}`;
      ms[k] = verb === 'VERSION' ? time(bins[k], cni('VERSION', id), '{"cniVersion":"1.0.0"}') : time(bins[k], cni(verb, id), conf(data[k]));
    }
    if (i < 2) continue;
    const c = (cells[verb] ??= { A: [], B: [], BA: [] });
    c.A.push(ms.A / f);
    c.B.push(ms.B / f);
    c.BA.push(ms.B / ms.A);
  }
}
console.log(`\n${ROUNDS} rounds (floor, A, B per verb); load average now ${la()}`);
for (const [verb, c] of Object.entries(cells)) console.log(`  ${verb.padEnd(8)} A ${median(c.A).toFixed(2)} × floor   B ${median(c.B).toFixed(2)} × floor   B ÷ A ${median(c.BA).toFixed(2)}`);

function burst(bin, dir) {
  const input = conf(dir, { logFile: join(dir, 'ops.log') });
  const t0 = process.hrtime.bigint();
  return Promise.all(Array.from({ length: BURST }, (_, i) => new Promise((res) => {
    const child = spawn(bin, [], { env: cni('ADD', `b${i}`), stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => res({ code, out }));
    child.stdin.end(input);
  }))).then((rs) => {
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const waits = readFileSync(join(dir, 'ops.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).lockWaitMs ?? 0).sort((a, b) => a - b);
    const ok = rs.filter((r) => r.code === 0);
    return { wall, errors: BURST - ok.length, distinct: new Set(ok.map((r) => JSON.parse(r.out).ips[0].address)).size, waitP99: waits[Math.ceil(0.99 * waits.length) - 1] };
  });
}
console.log(`\nbursts of ${BURST}, alternating; wall ÷ (n × one ADD's wall ÷ cores), one ADD = median of 5 just before`);
const walls = { A: [], B: [] };
for (let r = 0; r < REPEATS; r++) {
  for (const k of ['A', 'B']) {
    const solo = join(work, `solo-${k}-${r}`);
    const single = median(Array.from({ length: 5 }, (_, i) => time(bins[k], cni('ADD', `s${i}`), conf(solo))));
    const dir = join(work, `burst-${k}-${r}`);
    const b = await burst(bins[k], dir);
    console.log(`  ${k} #${r + 1}: ${b.wall.toFixed(0)} ms = ${(b.wall / ((BURST * single) / cpus().length)).toFixed(2)} × budget (one ADD ${single.toFixed(1)} ms); ${b.errors} errors, ${b.distinct} distinct, lock wait p99 ${b.waitP99?.toFixed(0)} ms; load ${la()}`);
    walls[k].push(b.wall);
    rmSync(dir, { recursive: true, force: true });
    rmSync(solo, { recursive: true, force: true });
  }
}
console.log(`  burst wall B ÷ A, per pair: ${walls.B.map((b, i) => (b / walls.A[i]).toFixed(2)).join(' ')}`);
rmSync(work, { recursive: true, force: true });
