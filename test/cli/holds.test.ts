// The operator's view of ipam.sticky and ipam.reuseCooldownSeconds: list flags held and cooling addresses,
// status and metrics count them, check reports holds that ended, release --hold ends one, gc frees ended ones.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliIn, runCni, tempDataDir } from '../helpers/leasehold';
import { checkJson, freedJson, listJson, statusJson } from './schemas';

const data = tempDataDir('lh-cli-holds-');
afterAll(() => data.remove());
const confFile = join(data.dir, 'sts.conflist');
const ipam = (holdSeconds: number) => ({
  type: 'leasehold',
  dataDir: data.dir,
  ranges: [[{ subnet: '10.76.0.0/24' }]],
  sticky: { holdSeconds },
  reuseCooldownSeconds: 600,
});
const conf = (holdSeconds = 300) => ({ cniVersion: '1.0.0', name: 'sts', type: 'bridge', ipam: ipam(holdSeconds) });
const args = (pod: string) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${pod}`;
const opts = ['--data-dir', data.dir, '--config', confFile];

beforeAll(() => {
  writeFileSync(confFile, JSON.stringify({ cniVersion: '1.0.0', name: 'sts', plugins: [{ type: 'bridge', ipam: ipam(300) }] }));
  for (const [id, pod] of [
    ['c1', 'web-0'],
    ['c2', 'web-1'],
    ['c3', ''],
  ]) {
    expect(runCni({ command: 'ADD', containerID: id!, stdin: conf(), args: pod ? args(pod) : '' }).code).toBe(0);
  }
  expect(runCni({ command: 'DEL', containerID: 'c1', stdin: conf(), netns: '' }).code).toBe(0); // held for shop/web-0
  expect(runCni({ command: 'DEL', containerID: 'c3', stdin: conf(), netns: '' }).code).toBe(0); // cooling
});

describe('held and cooling addresses in the CLI', () => {
  it('list flags them with the pod and the end time; status and metrics count them', async () => {
    const l = await cliIn(['list', ...opts, '--json']);
    const j = listJson.parse(l.json);
    expect(j.held).toMatchObject([{ address: '10.76.0.2', pod: 'shop/web-0', ifname: 'eth0', containerID: 'c1', live: true }]);
    expect(j.cooling).toMatchObject([{ address: '10.76.0.4', pod: null, live: true }]);
    const text = (await cliIn(['list', ...opts])).stdout;
    expect(text).toMatch(/10\.76\.0\.2\s+c1\s+eth0\s+shop\/web-0 .*held until 20\d\d-/);
    expect(text).toMatch(/10\.76\.0\.4 .*cooling until 20\d\d-/);
    const s = statusJson.parse((await cliIn(['status', ...opts, '--json'])).json);
    expect(s.networks[0]).toMatchObject({ held: 1, cooling: 1, expiredHolds: 0 });
    expect(s.networks[0]!.ranges[0]).toMatchObject({ leased: 1, held: 1, cooling: 1, free: 253 - 2 });
    expect((await cliIn(['status', ...opts])).stdout).toMatch(/LEASED\s+HELD\s+FREE\s+COOLING/);
    const m = (await cliIn(['metrics', ...opts])).stdout;
    expect(m).toMatch(/^leasehold_held\{network="sts",range="10\.76\.0\.0\/24",range_set="0"\} 1$/m);
    expect(m).toMatch(/^leasehold_cooling\{network="sts",range="10\.76\.0\.0\/24",range_set="0"\} 1$/m);
    expect(m).toMatch(/^leasehold_expired_holds\{network="sts"\} 0$/m);
  });

  it('release --hold ends a pod’s hold; a pod with none is refused', async () => {
    const r = await cliIn(['release', '--hold', 'shop/web-0', ...opts, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(freedJson.parse(r.json).freed).toEqual([
      { network: 'sts', kind: 'hold', reason: 'released', containerID: 'c1', ifname: 'eth0', addresses: ['10.76.0.2'] },
    ]);
    expect(listJson.parse((await cliIn(['list', ...opts, '--json'])).json).held).toEqual([]);
    const none = await cliIn(['release', '--hold', 'shop/web-0', ...opts]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no hold for pod shop\/web-0/);
  });

  it('check reports a hold that ended; gc frees it, and check is clean again', async () => {
    expect(runCni({ command: 'DEL', containerID: 'c2', stdin: conf(1), netns: '' }).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const c = await cliIn(['check', ...opts, '--json']);
    expect(c.code).toBe(1);
    expect(checkJson.parse(c.json).findings).toMatchObject([{ kind: 'hold-expired', addresses: ['10.76.0.3'], containerID: 'c2', freeable: true }]);
    const dry = freedJson.parse((await cliIn(['gc', ...opts, '--dry-run', '--json'])).json);
    expect(dry.freed).toMatchObject([{ kind: 'hold', reason: 'hold-expired', addresses: ['10.76.0.3'] }]);
    const g = freedJson.parse((await cliIn(['gc', ...opts, '--json'])).json);
    expect(g.freed).toMatchObject([{ kind: 'hold', reason: 'hold-expired', containerID: 'c2', addresses: ['10.76.0.3'] }]);
    expect((await cliIn(['check', ...opts])).code).toBe(0);
  });
});
