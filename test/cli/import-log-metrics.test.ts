// import-host-local, log and metrics.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { add, BIN, cliIn, editLease, expectConsistent, expectOneLine, IPAM, readNetwork, STALE_BOOT, tempDataDir, writeConflist } from '../helpers/leasehold';
import { importJson } from './schemas';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});
const fresh = (): string => {
  const d = tempDataDir('lh-cli-more-');
  dirs.push(d);
  return d.dir;
};

function hostLocal(dir: string): string {
  const n = join(dir, 'hl');
  rmSync(n, { recursive: true, force: true });
  mkdirSync(n, { recursive: true });
  writeFileSync(join(n, 'lock'), '');
  writeFileSync(join(n, '10.77.0.2'), 'ctr-a\r\neth0');
  writeFileSync(join(n, '10.77.0.3'), 'ctr-b\r\neth0');
  writeFileSync(join(n, 'fd00::3'), 'ctr-b\r\neth0');
  writeFileSync(join(n, 'last_reserved_ip.0'), '10.77.0.3');
  writeFileSync(join(n, 'last_reserved_ip.1'), 'fd00::3');
  return n;
}

describe('import-host-local', () => {
  test('--dry-run changes nothing; import keeps ids, ifnames and round-robin; idempotent', async () => {
    const dir = fresh();
    const n = hostLocal(dir);
    const check0 = await cliIn(['check', '--data-dir', dir, '--json']);
    expect(check0.code).toBe(1);
    expect(check0.json.findings.map((f: any) => f.kind)).toEqual(['not-imported', 'not-imported', 'not-imported']);
    const dry = await cliIn(['import-host-local', '--data-dir', dir, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const d = importJson.parse(dry.json);
    expect(d.networks[0]!.adopted.sort((a, b) => a.containerID.localeCompare(b.containerID))).toEqual([
      { containerID: 'ctr-a', ifname: 'eth0', addresses: ['10.77.0.2'] },
      { containerID: 'ctr-b', ifname: 'eth0', addresses: expect.arrayContaining(['10.77.0.3', 'fd00::3']) },
    ]);
    expect(d.networks[0]!.cursors).toEqual({ '0': '10.77.0.3', '1': 'fd00::3' });
    expect(() => readFileSync(join(n, 'leasehold.json'))).toThrow();
    const r = await cliIn(['import-host-local', '--data-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/hl\s+10\.77\.0\.2\s+ctr-a\s+eth0/);
    expect(r.stdout).toContain('imported 3 address(es) of 2 attachment(s) (1 network(s) looked at)');
    expect(JSON.parse(readFileSync(join(n, 'leasehold.json'), 'utf8')).cursors).toEqual({ '0': '10.77.0.3', '1': 'fd00::3' });
    expectConsistent(dir, 'hl');
    expect([...readNetwork(join(dir, 'hl')).records.values()].every((l) => l.adoptedFromHostLocal && l.bootId === null)).toBe(true);
    const again = await cliIn(['import-host-local', '--data-dir', dir, '--json']);
    expect(importJson.parse(again.json).networks).toEqual([{ network: 'hl', adopted: [], cursors: {} }]);
    expect((await cliIn(['check', '--data-dir', dir])).code).toBe(0);
    // Adopted leases have no known netns: release needs --force.
    const rel = await cliIn(['release', '10.77.0.2', '--data-dir', dir]);
    expect(expectOneLine(rel)).toContain('its netns is unknown (adopted from host-local)');
  });

  test('a reservation host-local writes later is imported into the existing state, cursors kept', async () => {
    const dir = fresh();
    hostLocal(dir);
    await cliIn(['import-host-local', '--data-dir', dir]);
    writeFileSync(join(dir, 'hl', '10.77.0.9'), 'ctr-c\r\neth0');
    writeFileSync(join(dir, 'hl', 'last_reserved_ip.0'), '10.77.0.9');
    const r = importJson.parse((await cliIn(['import-host-local', '--data-dir', dir, '--json'])).json);
    expect(r.networks[0]).toEqual({ network: 'hl', adopted: [{ containerID: 'ctr-c', ifname: 'eth0', addresses: ['10.77.0.9'] }], cursors: {} });
    expect(JSON.parse(readFileSync(join(dir, 'hl', 'leasehold.json'), 'utf8')).cursors['0']).toBe('10.77.0.3');
  });
});

describe('log', () => {
  test('pretty-prints the plugin log found through the config; --tail, --json, --network', async () => {
    const dir = fresh();
    const logFile = join(dir, 'ops.jsonl');
    for (let i = 0; i < 4; i++) add(dir, `logc${i}`, { ipam: { logFile } });
    const confDir = join(dir, 'conf');
    writeConflist(confDir, '10.conflist', 'testnet', { ...IPAM(dir), logFile });
    const r = await cliIn(['log', '--data-dir', dir, '--cni-conf-dir', confDir, '--tail', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z ADD\s+testnet\s+logc3\/eth0\s+ok\s+10\.88\.0\.5 \(\S+ms/);
    expect((await cliIn(['log', '--file', logFile, '--tail'])).stdout.trim().split('\n')).toHaveLength(4);
    const raw = (await cliIn(['log', '--file', logFile, '--json', '--tail', '1'])).stdout.trim();
    expect(JSON.parse(raw)).toMatchObject({ verb: 'ADD', network: 'testnet', containerID: 'logc3', ok: true });
    expect((await cliIn(['log', '--file', logFile, '--network', 'other'])).stdout).toBe('');
    appendFileSync(logFile, 'not json\n');
    expect((await cliIn(['log', '--file', logFile, '--tail', '1'])).stdout).toBe('? not json\n');
    const none = await cliIn(['log', '--data-dir', dir, '--cni-conf-dir', join(dir, 'nothing-here-either'), '--config', join(confDir, 'missing.conflist')]);
    expect(none.code).toBe(2);
    expectOneLine(none);
  });

  test('--follow prints lines as they are appended', async () => {
    const dir = fresh();
    const logFile = join(dir, 'ops.jsonl');
    writeFileSync(logFile, '');
    const p = spawn(BIN, ['log', '--file', logFile, '--follow'], { env: { PATH: process.env.PATH! } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    await new Promise((r) => setTimeout(r, 800));
    add(dir, 'follow01', { ipam: { logFile } });
    for (let i = 0; i < 40 && !out.includes('follow01'); i++) await new Promise((r) => setTimeout(r, 100));
    p.kill('SIGINT');
    const code = await new Promise((r) => p.on('close', r));
    expect(out).toMatch(/ADD\s+testnet\s+follow01\/eth0\s+ok/);
    expect(code).toBe(0);
  });
});

describe('metrics', () => {
  test('Prometheus text: HELP/TYPE and per network and range samples', async () => {
    const dir = fresh();
    const ipam = { ranges: [[{ subnet: '10.88.0.0/28' }], [{ subnet: 'fd00:88::/120' }]] };
    add(dir, 'm1', { ipam });
    add(dir, 'm2', { ipam });
    add(dir, 'm3', { name: 'other', ipam: { ranges: [[{ subnet: '10.99.0.0/24' }]] } });
    editLease(dir, 'testnet', 'm2', (l) => (l.bootId = STALE_BOOT));
    writeFileSync(join(dir, 'other', 'leases', 'bad@eth0.json'), '{');
    const conf = writeConflist(join(dir, 'conf'), '10.conflist', 'testnet', { dataDir: dir, ...ipam });
    const r = await cliIn(['metrics', '--data-dir', dir, '--cni-conf-dir', join(dir, 'conf')]);
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout;
    for (const m of ['leasehold_leases', 'leasehold_capacity', 'leasehold_free', 'leasehold_stale_leases', 'leasehold_state_errors']) {
      expect(text).toContain(`# HELP ${m} `);
      expect(text).toContain(`# TYPE ${m} gauge`);
    }
    expect(text).toContain('leasehold_leases{network="testnet",range="10.88.0.0/28",range_set="0"} 2\n');
    expect(text).toContain('leasehold_leases{network="testnet",range="fd00:88::/120",range_set="1"} 2\n');
    expect(text).toContain('leasehold_capacity{network="testnet",range="10.88.0.0/28",range_set="0"} 13\n');
    expect(text).toContain('leasehold_capacity{network="testnet",range="fd00:88::/120",range_set="1"} 254\n');
    expect(text).toContain('leasehold_free{network="testnet",range="10.88.0.0/28",range_set="0"} 11\n');
    expect(text).toContain('leasehold_stale_leases{network="testnet",range="10.88.0.0/28",range_set="0"} 1\n');
    expect(text).toContain('leasehold_leases{network="other",range="",range_set=""} 1\n');
    expect(text).toContain('leasehold_state_errors{network="other"} 1\n');
    expect(text).toContain('leasehold_state_errors{network="testnet"} 0\n');
    // Every non-comment line is `name{labels} value`.
    for (const line of text
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#')))
      expect(line).toMatch(/^leasehold_[a-z_]+\{[^}]*\} \d+(\.\d+)?(e\+\d+)?$/);
    expect((await cliIn(['metrics', '--config', conf])).stdout).toContain('range="10.88.0.0/28"');
  });
});
