// node scripts/crash-mutations.mjs [name ...]: which fsyncs are load-bearing. For each mutant, a copy of the
// tree with one durability step removed is built (src/ itself is never touched), then the crash-state explorer
// suites it concerns run against that build: test/faults/crash-states.test.ts (a node's disk) and
// test/faults/crash-journal.test.ts (the cluster node's journal of releases). A mutant that leaves them green
// removed nothing the recorded sequences depend on. Run after `npm run build`; the unmutated build runs first,
// through every suite, as the control and must be green. LEASEHOLD_CRASH_SEED fixes the seed (default 1);
// LEASEHOLD_CRASH_BINARY the number of states per disk scenario given to the executable (default 4 here: the file
// checks run on every state anyway).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const seed = process.env.LEASEHOLD_CRASH_SEED ?? '1';
const binaryStates = process.env.LEASEHOLD_CRASH_BINARY ?? '4';

const FSUTIL = 'src/store/node/fsutil.ts';
const STORE = 'src/store/disk/disk-store.ts';
const JOURNAL = 'src/store/node/journal.ts';
const ETCD_STORE = 'src/store/etcd/etcd-store.ts';
const DISK_SUITE = 'test/faults/crash-states.test.ts';
const JOURNAL_SUITE = 'test/faults/crash-journal.test.ts';

/** Each mutant: replacements that must each match exactly once, and the explorer suites it is run against. */
const MUTANTS = [
  {
    name: 'file-fsync',
    what: 'fsync of the temp file before rename/link (fsutil writeTemp)',
    suites: [DISK_SUITE, JOURNAL_SUITE],
    edits: [
      [
        FSUTIL,
        '    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);\n    fsyncSync(fd);\n',
        '    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);\n',
      ],
    ],
  },
  {
    name: 'all-dir-fsyncs',
    what: 'every directory fsync (fsyncDir does nothing)',
    edits: [[FSUTIL, 'export function fsyncDir(dir: string): void {\n', 'export function fsyncDir(dir: string): void {\n  if (dir) return;\n']],
  },
  {
    name: 'add-record-dir-fsync',
    what: "ADD: fsync of leases/ after the record's rename (putLease)",
    edits: [
      [
        STORE,
        '      replaceFile(this.leasesDir, name, encodeLease(lease));\n      fsyncDir(this.leasesDir);\n    });\n    const claimed',
        '      replaceFile(this.leasesDir, name, encodeLease(lease));\n    });\n    const claimed',
      ],
    ],
  },
  {
    name: 'add-claims-dir-fsync',
    what: 'ADD: fsync of the network dir after the claims are linked (putLease)',
    edits: [
      [STORE, "    io('syncing', this.location, () => fsyncDir(this.location));\n    // A cooldown left on an address", '    // A cooldown left on an address'],
    ],
  },
  {
    name: 'del-hold-fsync',
    what: "DEL: fsync of holds/ after the hold's rename (ipam.sticky)",
    edits: [
      [
        STORE,
        '        replaceFile(this.holdsDir, holdFileName(hold), encodeHold(hold));\n        fsyncDir(this.holdsDir);\n',
        '        replaceFile(this.holdsDir, holdFileName(hold), encodeHold(hold));\n',
      ],
    ],
  },
  {
    name: 'del-cooling-fsync',
    what: 'DEL: fsync of cooling/ after the cooling links (ipam.reuseCooldownSeconds)',
    edits: [
      [
        STORE,
        '        for (const a of mine) replaceSymlink(this.coolingDir, a, policy.coolUntil);\n        fsyncDir(this.coolingDir);\n',
        '        for (const a of mine) replaceSymlink(this.coolingDir, a, policy.coolUntil);\n',
      ],
    ],
  },
  {
    name: 'add-hold-end-fsync',
    what: "ADD: fsync of holds/ after the pod's hold is removed",
    edits: [[STORE, '      unlinkIfExists(path);\n      fsyncDir(this.holdsDir);\n', '      unlinkIfExists(path);\n']],
  },
  {
    name: 'del-record-dir-fsync',
    what: "DEL: fsync of leases/ after the record's unlink (deleteLease)",
    edits: [[STORE, '      unlinkIfExists(path);\n      fsyncDir(this.leasesDir);\n', '      unlinkIfExists(path);\n']],
  },
  {
    name: 'del-claims-dir-fsync',
    what: 'DEL: fsync of the network dir after the claims are unlinked (deleteLease)',
    edits: [[STORE, "    io('syncing', this.location, () => fsyncDir(this.location));\n    return freed;", '    return freed;']],
  },
  {
    name: 'state-dir-fsync',
    what: 'fsync of the network dir after leasehold.json is replaced on first contact (saveState)',
    edits: [
      [
        STORE,
        '      replaceFile(this.location, STATE_FILE, encodeState(state));\n      fsyncDir(this.location);\n',
        '      replaceFile(this.location, STATE_FILE, encodeState(state));\n',
      ],
    ],
  },
  {
    name: 'adopt-dir-fsync',
    what: 'adoption: fsync of leases/ after the adopted records (applyAdoption)',
    edits: [[STORE, "    if (plan.adopted.length > 0) io('syncing', this.leasesDir, () => fsyncDir(this.leasesDir));\n", '']],
  },
  {
    name: 'orphan-claim-dir-fsync',
    what: 'GC of a claim no record owns: fsync of the network dir (removeClaim)',
    edits: [
      [STORE, '      unlinkQuiet(join(this.location, address));\n      fsyncDir(this.location);\n', '      unlinkQuiet(join(this.location, address));\n'],
    ],
  },
  {
    name: 'mkdir-parent-fsync',
    what: 'fsync of the parent after creating the data dir, the network dir or leases/',
    edits: [
      [FSUTIL, '    mkdirSync(path, { mode: 0o700 });\n    fsyncDir(dirname(path));\n', '    mkdirSync(path, { mode: 0o700 });\n'],
      [
        FSUTIL,
        '  if (first === undefined) return;\n  for (let d = path; ; d = dirname(d)) {\n    fsyncDir(dirname(d));\n    if (d === first) break;\n  }\n',
        '  void first;\n  void dirname;\n',
      ],
    ],
  },
  {
    name: 'rename-to-direct-write',
    what: 'temp file + rename replaced by writing the file in place (O_TRUNC, write, fsync)',
    suites: [DISK_SUITE, JOURNAL_SUITE],
    edits: [
      [
        FSUTIL,
        '  const tmp = writeTemp(dir, name, data);\n  try {\n    renameSync(tmp, join(dir, name));\n  } catch (e) {\n    unlinkQuiet(tmp);\n    throw e;\n  }\n',
        '  const fd = openSync(join(dir, name), O_CREAT | constants.O_TRUNC | O_WRONLY | O_NOFOLLOW, 0o600);\n  try {\n    const buf = Buffer.from(data);\n    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);\n    fsyncSync(fd);\n  } finally {\n    closeSync(fd);\n  }\n  void renameSync;\n',
      ],
    ],
  },
  {
    name: 'link-to-direct-write',
    what: 'claims: temp file + link(2) replaced by an O_EXCL create of the claim, then write and fsync',
    edits: [
      [
        FSUTIL,
        "      tmp ??= writeTemp(dir, name, data);\n      try {\n        linkSync(tmp, join(dir, name));\n        return true;\n      } catch (e) {\n        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;\n        throw e;\n      }\n",
        "      let fd: number;\n      try {\n        fd = openSync(join(dir, name), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);\n      } catch (e) {\n        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;\n        throw e;\n      }\n      try {\n        const buf = Buffer.from(data);\n        for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);\n        fsyncSync(fd);\n      } finally {\n        closeSync(fd);\n      }\n      void linkSync;\n      void writeTemp;\n      return true;\n",
      ],
    ],
  },
  {
    name: 'journal-add-fsync',
    what: "journaled DEL: every fsync after the entry's rename (released/ and the directories above it)",
    suites: [JOURNAL_SUITE],
    edits: [[JOURNAL, '      fsyncPath(this.dir);\n', '      void fsyncPath;\n']],
  },
  {
    name: 'journal-add-released-only',
    what: 'journaled DEL: fsync of released/ only, not of the directories above it',
    suites: [JOURNAL_SUITE],
    edits: [[JOURNAL, '      fsyncPath(this.dir);\n', '      fsyncDir(this.dir);\n      void fsyncPath;\n']],
  },
  {
    name: 'journal-remove-fsync',
    what: "replay: fsync of released/ after an entry's unlink (remove)",
    suites: [JOURNAL_SUITE],
    edits: [[JOURNAL, '      unlinkIfExists(path);\n      fsyncDir(this.dir);\n', '      unlinkIfExists(path);\n      void fsyncDir;\n']],
  },
  {
    name: 'journal-remove-before-release',
    what: 'replay: the entry removed once its record was read, before the release reached etcd',
    suites: [JOURNAL_SUITE],
    edits: [
      [ETCD_STORE, '    await this.pool.release({ attachment: entry,', '    this.journal.remove(entry);\n    await this.pool.release({ attachment: entry,'],
    ],
  },
];

/** Runs one explorer suite against a build; its JSON report (LEASEHOLD_CRASH_REPORT) says what broke. */
function runSuite(bin, label, suite) {
  const report = join(tmpdir(), `lh-crash-mut-${process.pid}-${label}.json`);
  // The journal's suite is quick enough to run the executable on every state that differs in meaning.
  const sample = suite === DISK_SUITE ? { LEASEHOLD_CRASH_BINARY: binaryStates } : {};
  const env = { ...process.env, LEASEHOLD_BIN: bin, LEASEHOLD_CRASH_SEED: seed, LEASEHOLD_CRASH_REPORT: report, ...sample };
  const r = spawnSync(join(root, 'node_modules', '.bin', 'vitest'), ['run', suite], { cwd: root, env, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (!existsSync(report)) return { red: r.status !== 0, summary: [], failure: `no report from ${suite} (exit ${r.status}): ${r.stdout.slice(-500)}` };
  const summary = JSON.parse(readFileSync(report, 'utf8'));
  rmSync(report, { force: true });
  return { red: r.status !== 0, summary };
}

function explore(bin, label, suites) {
  const started = Date.now();
  const runs = suites.map((suite) => runSuite(bin, label, suite));
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const summary = runs.flatMap((r) => r.summary);
  const broken = summary.reduce((n, s) => n + s.broken, 0);
  const states = summary.reduce((n, s) => n + s.states, 0);
  const first =
    runs.find((r) => r.failure)?.failure ??
    summary.flatMap((s) =>
      s.findings.map((f) => `${f.violations[0]} (crash before "${f.crashBefore}"${f.lost.length ? `, lost: ${f.lost.slice(0, 2).join('; ')}` : ''})`),
    )[0] ??
    '';
  const scenarios = summary.filter((s) => s.broken > 0).map((s) => `${s.scenario}: ${s.broken}`);
  return { red: runs.some((r) => r.red), seconds, states, broken, first, scenarios };
}

const wanted = process.argv.slice(2);
const mutants = wanted.length ? MUTANTS.filter((m) => wanted.includes(m.name)) : MUTANTS;
const results = [];
const control = explore(process.env.LEASEHOLD_BIN ?? join(root, 'dist', 'leasehold'), 'control', [DISK_SUITE, JOURNAL_SUITE]);
console.log(
  `control (unmutated build): ${control.red ? 'RED' : 'green'}, ${control.states} states, ${control.seconds} s${control.red ? `: ${control.first}` : ''}`,
);
for (const m of mutants) {
  const work = mkdtempSync(join(tmpdir(), `lh-mut-${m.name}-`));
  try {
    for (const p of ['src', 'native', 'scripts', 'package.json', 'tsconfig.json']) cpSync(join(root, p), join(work, p), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'));
    for (const [file, from, to] of m.edits) {
      const path = join(work, file);
      const text = readFileSync(path, 'utf8');
      const count = text.split(from).length - 1;
      if (count !== 1) throw new Error(`mutant ${m.name}: the text to replace occurs ${count} times in ${file} (the source changed: update the mutant)`);
      writeFileSync(
        path,
        text.replace(from, () => to),
      );
    }
    const b = spawnSync(process.execPath, [join(work, 'scripts', 'build.mjs')], { cwd: work, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`mutant ${m.name} did not build:\n${b.stdout}\n${b.stderr}`);
    const res = explore(join(work, 'dist', 'leasehold'), m.name, m.suites ?? [DISK_SUITE]);
    results.push({ ...m, ...res });
    console.log(
      `${m.name}: ${res.red ? 'RED' : 'green'} (${res.broken} broken states of ${res.states}, ${res.seconds} s) ${res.scenarios.join('; ')}${res.first ? `\n  first: ${res.first}` : ''}`,
    );
  } catch (e) {
    // A mutant that no longer applies or builds is reported, not silently skipped.
    console.log(`${m.name}: NOT RUN: ${e.message}`);
    results.push({ ...m, red: false, broken: 0, states: 0, first: `not run: ${e.message.split('\n')[0]}` });
    process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
console.log(`\n| removed | explorer | states broken (of checked) | first violation |\n| --- | --- | --- | --- |`);
for (const r of results)
  console.log(`| ${r.what} | ${r.red ? '**red**' : 'green'} | ${r.broken} of ${r.states} | ${r.first.replace(/\|/g, '\\|').slice(0, 300)} |`);
console.log(
  `\nseed ${seed}; the executable ran on ${binaryStates} states per disk scenario, on every one that differs in meaning per journal scenario (every state was checked from its files)`,
);
if (control.red) process.exitCode = 1;
