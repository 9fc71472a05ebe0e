import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { VERSION } from '../../src/cli/version';
import { addressOf, BIN, cli, cliIn, expectOk, expectOneLine, netConf, ROOT, runCni, tempDataDir } from '../helpers/leasehold';

describe('leasehold (no CNI_COMMAND)', () => {
  const dirs: Array<{ remove(): void }> = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove();
  });

  test('--version prints the package version', async () => {
    expect(VERSION).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const r = cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^leasehold ${VERSION.replace(/\./g, '\\.')} `));
    // The executable runs its plugin bundle from the code cache made at build time; a test build may not.
    if (!process.env.LEASEHOLD_BIN) expect(r.stdout).toContain('start-up code cache in use');
  });

  test("the executable's V8 flags keep Node's own code cache for the modules it compiles at run time", async () => {
    if (process.env.LEASEHOLD_BIN) return;
    const d = tempDataDir();
    dirs.push(d);
    // Node reports, per built-in module it compiles after its snapshot, whether V8 accepted its code cache.
    const env = { NODE_DEBUG_NATIVE: 'CODE_CACHE' };
    for (const command of ['ADD', 'DEL'] as const) {
      const r = runCni({ command, containerID: 'flags', stdin: netConf(d.dir), env });
      expectOk(r);
      expect(r.stderr).toMatch(/Code cache of vm \(\w+\) is accepted/);
      expect(r.stderr).not.toContain('is rejected');
    }
  });

  test('a code cache that V8 refuses (other V8 flags) costs time, not correctness', async () => {
    const d = tempDataDir();
    dirs.push(d);
    const env = { NODE_OPTIONS: '--jitless' };
    const version = spawnSync(BIN, ['--version'], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    if (!process.env.LEASEHOLD_BIN) expect(version.stdout).toContain('start-up code cache refused by V8');
    const added = runCni({ command: 'ADD', containerID: 'jitless', stdin: netConf(d.dir), env });
    expectOk(added);
    expect(addressOf(added)).toBe('10.88.0.2');
  });

  test('a reader that goes away early (leasehold --help | head -1) ends the command quietly, with no stack', async () => {
    const p = spawn(BIN, ['--help'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.destroy();
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const code = await new Promise((res) => p.on('close', res));
    expect([code, err]).toEqual([0, '']);
  });

  test('--help lists every command and the exit codes', async () => {
    const r = await cliIn(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['status', 'list', 'check', 'release', 'gc', 'import-host-local', 'log', 'metrics']) expect(r.stdout).toContain(`  ${c}`);
    expect(r.stdout).toContain('Exit status');
    for (const c of ['status', 'gc', 'release']) {
      const h = await cliIn([c, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('--data-dir');
      expect(h.stdout).toContain('--network');
      expect(h.stdout).toContain('--json');
    }
  });

  test('usage errors: exit 2, one line, no stack', async () => {
    for (const args of [['bogus'], ['status', '--bogus'], ['gc', '--lock-timeout', 'soon'], ['release'], ['release', 'not-an-ip', '--data-dir', '/tmp']]) {
      const r = await cliIn(args);
      expect(r.code, args.join(' ')).toBe(2);
      expectOneLine(r);
      expect(r.stdout).toBe('');
    }
  });

  test('an unknown network is an error naming what exists', async () => {
    const d = tempDataDir();
    dirs.push(d);
    const r = await cliIn(['list', '--data-dir', d.dir, '--network', 'nope']);
    expect(r.code).toBe(2);
    expect(expectOneLine(r)).toContain(`no network nope in ${d.dir} (found: none)`);
    expect((await cliIn(['list', '--data-dir', d.dir, '--network', '../etc'])).code).toBe(2);
  });

  test('a missing data dir is an empty node, not an error, for the read-only commands', async () => {
    for (const c of ['status', 'list', 'check', 'metrics']) {
      const r = await cliIn([c, '--data-dir', '/nonexistent/leasehold']);
      expect(r.code, `${c}: ${r.stderr}`).toBe(0);
    }
    // An explicitly named config directory must exist.
    const r = await cliIn(['status', '--data-dir', '/nonexistent/leasehold', '--cni-conf-dir', '/nonexistent/conf']);
    expect(r.code).toBe(2);
    expect(expectOneLine(r)).toContain('cannot read CNI config directory /nonexistent/conf');
  });
});
