// status, list, check and metrics against leases made by real plugin ADDs, one of them from an "earlier
// boot" (its bootId edited) and one whose netns path was removed.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { add, cliIn, editLease, expectOneLine, IPAM, STALE_BOOT, tempDataDir, writeConflist } from '../helpers/leasehold';
import { checkJson, listJson, statusJson } from './schemas';

const d = tempDataDir('lh-cli-');
const confDir = join(d.dir, 'net.d');
const data = join(d.dir, 'data');
const ids = { live: 'a1b2c3d4e5f6a7b8c9d0', stale: 'b2c3d4e5f6a7b8c9d0e1', gone: 'c3d4e5f6a7b8c9d0e1f2', other: 'd4e5f6a7b8c9d0e1f2a3' };
const addr: Record<string, string> = {};
const opts = ['--data-dir', data, '--cni-conf-dir', confDir];

beforeAll(() => {
  writeConflist(confDir, '10-testnet.conflist', 'testnet', { ...IPAM(data), ranges: [[{ subnet: '10.88.0.0/28' }]] });
  const ipam = { ranges: [[{ subnet: '10.88.0.0/28' }]] };
  addr.live = add(data, ids.live, { ipam, pod: ['default', 'web-1'] });
  addr.stale = add(data, ids.stale, { ipam, pod: ['default', 'web-2'] });
  addr.gone = add(data, ids.gone, { ipam });
  addr.other = add(data, ids.other, { name: 'other', ipam: { ranges: [[{ subnet: '10.99.0.0/24' }]] } });
  editLease(data, 'testnet', ids.stale, (l) => (l.bootId = STALE_BOOT));
  rmSync(join(data, 'netns', `${ids.gone}-eth0`));
});
afterAll(() => d.remove());

describe('status', () => {
  test('per range: size, leased, free, bar, last handed out, earlier boots', async () => {
    const r = await cliIn(['status', ...opts]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/testnet\s+\S*10-testnet.conflist\s+3\s+1\s+1\s+0\s+0\s+\d+s/);
    expect(r.stdout).toMatch(/other\s+-\s+1\s+0\s+0/);
    // /28: .1-.14, gateway .1 → 13 assignable, 3 leased.
    expect(r.stdout).toMatch(/testnet\s+10\.88\.0\.0\/28 10\.88\.0\.1-10\.88\.0\.14\s+13\s+3\s+10\s+\[##\.{8}\]\s+23\.0%\s+10\.88\.0\.4\s+\d+s\s+1/);
    expect(r.stdout).not.toContain('warning');
  });

  test('--json has the documented shape', async () => {
    const r = await cliIn(['status', ...opts, '--json']);
    expect(r.code).toBe(0);
    const s = statusJson.parse(r.json);
    const t = s.networks.find((n) => n.network === 'testnet')!;
    expect(t).toMatchObject({ leases: 3, staleBoot: 1, netnsGone: 1, outsideRanges: 0, cursors: { '0': addr.gone } });
    expect(t.ranges).toEqual([
      expect.objectContaining({ subnet: '10.88.0.0/28', size: 13, leased: 3, free: 10, staleBoot: 1, stale: 2, lastHandedOut: addr.gone }),
    ]);
    expect(s.networks.find((n) => n.network === 'other')).toMatchObject({ config: null, leases: 1, ranges: [], outsideRanges: null });
  });

  test('warns when a range is at least 90 % full', async () => {
    const full = tempDataDir('lh-cli-full-');
    try {
      const ipam = { ranges: [[{ subnet: '10.77.0.0/29' }]] }; // .2-.6 assignable: 5
      for (let i = 0; i < 5; i++) add(full.dir, `full${i}`, { ipam });
      const conf = writeConflist(join(full.dir, 'conf'), 'n.conflist', 'testnet', { dataDir: full.dir, ...ipam });
      const r = await cliIn(['status', '--config', conf]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('[##########] 100.0%');
      expect(r.stdout).toContain('warning: testnet range 10.77.0.0/29 is 100% full (5 of 5 addresses leased)');
    } finally {
      full.remove();
    }
  });

  test('without a config: lease counts only', async () => {
    const r = await cliIn([
      'status',
      '--data-dir',
      data,
      '--cni-conf-dir',
      join(d.dir, 'empty-conf-dir-missing'),
      '--network',
      'testnet',
      '--config',
      '/dev/null',
    ]);
    expect(r.code).toBe(2); // an explicit --config must be usable
    expectOneLine(r);
    const plain = await cliIn(['status', '--data-dir', data, '--network', 'testnet', '--json']);
    expect(statusJson.parse(plain.json).networks).toEqual([expect.objectContaining({ network: 'testnet', leases: 3, config: null, ranges: [] })]);
  });
});

describe('list', () => {
  test('one row per lease with short id, pod, age, netns and flags', async () => {
    const r = await cliIn(['list', '--data-dir', data]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NETWORK\s+ADDRESS\s+CONTAINER\s+IFNAME\s+POD\s+AGE\s+NETNS\s+FLAGS$/);
    expect(lines).toHaveLength(5);
    expect(r.stdout).toMatch(new RegExp(`testnet\\s+${addr.live}\\s+${ids.live.slice(0, 12)}\\s+eth0\\s+default/web-1\\s+\\d+s\\s+\\S+\\s+-\\n`));
    expect(r.stdout).toMatch(new RegExp(`${addr.stale}\\s+${ids.stale.slice(0, 12)}\\s.*stale-boot`));
    expect(r.stdout).toMatch(new RegExp(`${addr.gone}\\s+${ids.gone.slice(0, 12)}\\s.*netns-gone`));
    expect(r.stdout).not.toMatch(new RegExp(`\\s${ids.live}\\s`)); // only the short id
  });

  test('filters: --container, --pod, --stale; --json shape', async () => {
    const j = async (args: string[]) => listJson.parse((await cliIn(['list', '--data-dir', data, '--json', ...args])).json).leases;
    expect((await j([])).map((l) => l.containerID).sort()).toEqual(Object.values(ids).sort());
    expect((await j(['--container', ids.live.slice(0, 6)])).map((l) => l.addresses)).toEqual([[addr.live]]);
    expect((await j(['--pod', 'default/web-2'])).map((l) => l.containerID)).toEqual([ids.stale]);
    expect((await j(['--pod', 'web-1'])).map((l) => l.containerID)).toEqual([ids.live]);
    expect(await j(['--pod', 'kube-system/web-1'])).toEqual([]);
    const stale = await j(['--stale']);
    expect(stale.map((l) => [l.containerID, l.flags])).toEqual(
      expect.arrayContaining([
        [ids.stale, ['stale-boot']],
        [ids.gone, ['netns-gone']],
      ]),
    );
    expect(stale).toHaveLength(2);
    expect(await j(['--network', 'other'])).toEqual([expect.objectContaining({ network: 'other', podNamespace: null, adoptedFromHostLocal: false })]);
  });
});

describe('check', () => {
  test('reports earlier-boot and netns-gone leases: exit 1', async () => {
    const r = await cliIn(['check', ...opts]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('testnet: 3 lease(s), 3 claim(s), ranges from');
    expect(r.stdout).toContain('other: 1 lease(s), 1 claim(s), no config: ranges not checked: ok');
    expect(r.stdout).toMatch(/testnet\s+stale-boot\s+lease of b2c3/);
    expect(r.stdout).toMatch(/testnet\s+netns-gone\s+lease of c3d4/);
    const j = checkJson.parse((await cliIn(['check', ...opts, '--json'])).json);
    expect(j.clean).toBe(false);
    expect(j.findings.map((f) => [f.kind, f.containerID, f.addresses, f.freeable])).toEqual([
      ['stale-boot', ids.stale, [addr.stale], true],
      ['netns-gone', ids.gone, [addr.gone], true],
    ]);
  });

  test('a clean network: exit 0', async () => {
    const r = await cliIn(['check', ...opts, '--network', 'other']);
    expect(r.code).toBe(0);
    expect(checkJson.parse((await cliIn(['check', ...opts, '--network', 'other', '--json'])).json)).toMatchObject({ clean: true, findings: [] });
  });

  test('prepared damage: unreadable state and record, duplicate, missing claim, outside range, orphan claim', async () => {
    const bad = tempDataDir('lh-cli-bad-');
    try {
      add(bad.dir, 'good1', {});
      const dup = add(bad.dir, 'dup1', {});
      const n = join(bad.dir, 'testnet');
      writeFileSync(join(n, 'leasehold.json'), '{"format":9}');
      writeFileSync(join(n, 'leases', 'broken@eth0.json'), '{not json');
      const rec = (id: string, addresses: string[]) =>
        writeFileSync(
          join(n, 'leases', `${id}@eth0.json`),
          JSON.stringify({ format: 1, containerID: id, ifname: 'eth0', addresses, netns: '', createdAt: new Date().toISOString(), bootId: null }),
        );
      rec('dup2', [dup]);
      rec('noclaim', ['10.88.0.200']);
      rec('faraway', ['10.1.2.3']);
      writeFileSync(join(n, '10.1.2.3'), 'faraway\r\neth0');
      writeFileSync(join(n, '10.88.0.201'), 'ghost\r\neth0');
      const conf = writeConflist(join(bad.dir, 'conf'), 'n.conflist', 'testnet', IPAM(bad.dir));
      const r = await cliIn(['check', '--config', conf, '--json']);
      expect(r.code).toBe(1);
      const kinds = checkJson.parse(r.json).findings.map((f) => `${f.kind} ${f.addresses.join(',') || f.path!.split('/').pop()}`);
      expect(kinds.sort()).toEqual(
        [
          'state-unreadable leasehold.json',
          'record-unreadable broken@eth0.json',
          `duplicate-address ${dup}`,
          'claim-missing 10.88.0.200',
          'outside-range 10.1.2.3',
          'orphan-claim 10.88.0.201',
        ].sort(),
      );
      expect((await cliIn(['check', '--config', conf])).stdout).toMatch(/state-unreadable\s+\S+leasehold\.json is unreadable: state format 9/);
    } finally {
      bad.remove();
    }
  });
});
