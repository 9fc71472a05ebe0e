// release and gc against real plugin leases, including racing ~30 concurrent ADDs.
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import {
  add,
  cliIn,
  cliAsync,
  editLease,
  expectConsistent,
  expectOneLine,
  makeNetns,
  netConf,
  readNetwork,
  runCniAsync,
  STALE_BOOT,
  tempDataDir,
} from '../helpers/leasehold';
import { freedJson } from './schemas';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});
const fresh = (): string => {
  const d = tempDataDir('lh-cli-free-');
  dirs.push(d);
  return d.dir;
};
const ids = (dir: string): string[] => [...readNetwork(join(dir, 'testnet')).records.values()].map((l) => l.containerID).sort();

describe('release', () => {
  test('refuses a lease whose netns still exists unless --force; prints what it freed', async () => {
    const dir = fresh();
    const a = add(dir, 'live0001');
    const refused = await cliIn(['release', a, '--data-dir', dir]);
    expect(refused.code).toBe(1);
    expect(expectOneLine(refused)).toContain(`lease of live0001/eth0 (${a}) not freed: its netns ${dir}/netns/live0001-eth0 still exists`);
    expect(ids(dir)).toEqual(['live0001']);
    const r = await cliIn(['release', a, '--data-dir', dir, '--force']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`testnet\\s+${a.replace(/\./g, '\\.')}\\s+live0001\\s+eth0\\s+released`));
    expect(r.stdout).toContain('freed 1 address(es) in 1 entry');
    expect(ids(dir)).toEqual([]);
    expectConsistent(dir, 'testnet');
  });

  test('--container (prefix) [--ifname], all or nothing, --json', async () => {
    const dir = fresh();
    add(dir, 'gone0001', { ifname: 'eth0' });
    const b = add(dir, 'gone0001', { ifname: 'net1' });
    add(dir, 'gone0002');
    for (const f of ['gone0001-eth0', 'gone0001-net1', 'gone0002-eth0']) rmSync(join(dir, 'netns', f));
    const amb = await cliIn(['release', '--container', 'gone', '--data-dir', dir]);
    expect(amb.code).toBe(1);
    expect(expectOneLine(amb)).toContain('container gone is ambiguous: it matches gone0001, gone0002');
    const r = await cliIn(['release', '--container', 'gone0001', '--ifname', 'net1', '--data-dir', dir, '--json']);
    expect(r.code).toBe(0);
    expect(freedJson.parse(r.json).freed).toEqual([
      { network: 'testnet', kind: 'lease', reason: 'released', containerID: 'gone0001', ifname: 'net1', addresses: [b] },
    ]);
    const missing = await cliIn(['release', '10.88.0.250', b, '--data-dir', dir]);
    expect(missing.code).toBe(1);
    expect(expectOneLine(missing)).toMatch(/nothing freed: 10\.88\.0\.250: not leased; .*: not leased/);
    expect(ids(dir)).toEqual(['gone0001', 'gone0002']);
  });

  test('frees an orphan claim; one written in this boot needs --force', async () => {
    const dir = fresh();
    add(dir, 'keep0001');
    writeFileSync(join(dir, 'testnet', '10.88.0.99'), 'ghost\r\neth0');
    const refused = await cliIn(['release', '10.88.0.99', '--data-dir', dir]);
    expect(refused.code).toBe(1);
    expect(expectOneLine(refused)).toContain('claim 10.88.0.99 not freed: no record owns it, but it was written in this boot (held for ghost/eth0)');
    const r = await cliIn(['release', '10.88.0.99', '--data-dir', dir, '--json', '--force']);
    expect(r.code).toBe(0);
    expect(freedJson.parse(r.json).freed).toEqual([expect.objectContaining({ kind: 'claim', addresses: ['10.88.0.99'] })]);
    expectConsistent(dir, 'testnet');
  });
});

describe('gc', () => {
  function leaky(): { dir: string; live: string[]; addr: Record<string, string> } {
    const dir = fresh();
    const addr: Record<string, string> = {};
    for (const id of ['live0001', 'live0002', 'stale001', 'gone0001']) addr[id] = add(dir, id);
    editLease(dir, 'testnet', 'stale001', (l) => (l.bootId = STALE_BOOT));
    rmSync(join(dir, 'netns', 'gone0001-eth0'));
    // An unowned claim from before this boot (freeable) and one from this boot (perhaps a live host-local's).
    writeFileSync(join(dir, 'testnet', '10.88.0.200'), 'ghost\r\neth0');
    utimesSync(join(dir, 'testnet', '10.88.0.200'), new Date('2000-01-01'), new Date('2000-01-01'));
    writeFileSync(join(dir, 'testnet', '10.88.0.201'), 'hostlocal1\r\neth0');
    return { dir, live: ['live0001', 'live0002'], addr };
  }

  test('--dry-run prints what it would free and changes nothing; gc frees exactly that', async () => {
    const { dir, addr } = leaky();
    const dry = await cliIn(['gc', '--dry-run', '--data-dir', dir, '--json']);
    expect(dry.code).toBe(0);
    const would = freedJson.parse(dry.json);
    expect(would.dryRun).toBe(true);
    expect(would.freed.map((f) => [f.reason, f.containerID, f.addresses])).toEqual([
      ['stale-boot', 'stale001', [addr.stale001]],
      ['netns-gone', 'gone0001', [addr.gone0001]],
      ['orphan-claim', null, ['10.88.0.200']],
    ]);
    expect(ids(dir)).toHaveLength(4);
    const text = (await cliIn(['gc', '--dry-run', '--data-dir', dir])).stdout;
    expect(text).toContain('would free 3 address(es) in 3 entries');
    const r = await cliIn(['gc', '--data-dir', dir, '--json']);
    expect(r.code).toBe(0);
    expect(freedJson.parse(r.json).freed).toEqual(would.freed);
    expect(ids(dir)).toEqual(['live0001', 'live0002']);
    // The claim written in this boot is kept, and still reported by check (not freeable).
    expect(readNetwork(join(dir, 'testnet')).claims.get('10.88.0.201')?.containerID).toBe('hostlocal1');
    expect((await cliIn(['gc', '--data-dir', dir])).stdout).toContain('nothing freed');
    const c = await cliIn(['check', '--data-dir', dir, '--json']);
    expect(c.code).toBe(1);
    expect(c.json.findings).toEqual([
      expect.objectContaining({ kind: 'orphan-claim', addresses: ['10.88.0.201'], containerID: 'hostlocal1', freeable: false }),
    ]);
  });

  test('--keep-from frees every lease not listed; an empty list needs --force', async () => {
    const { dir } = leaky();
    const keep = join(dir, 'keep.json');
    writeFileSync(
      keep,
      JSON.stringify([
        { containerID: 'live0001', ifname: 'eth0' },
        { containerID: 'stale001', ifname: 'eth0' },
      ]),
    );
    // File times tick coarsely (a jiffy): date the list clearly after the leases it judges.
    const later = new Date(Date.now() + 1000);
    utimesSync(keep, later, later);
    const r = await cliIn(['gc', '--keep-from', keep, '--data-dir', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(
      freedJson
        .parse(r.json)
        .freed.map((f) => `${f.reason} ${f.containerID ?? f.addresses[0]}`)
        .sort(),
    ).toEqual(['not-valid gone0001', 'not-valid live0002', 'orphan-claim 10.88.0.200', 'orphan-claim 10.88.0.201'].sort());
    expect(ids(dir)).toEqual(['live0001', 'stale001']);
    writeFileSync(keep, '[]');
    const e = await cliIn(['gc', '--keep-from', keep, '--data-dir', dir]);
    expect(e.code).toBe(2);
    expect(expectOneLine(e)).toContain('lists no attachments');
    writeFileSync(keep, '{"containerID": 1}');
    expect(expectOneLine(await cliIn(['gc', '--keep-from', keep, '--data-dir', dir]))).toContain('must be a JSON list');
    expect((await cliIn(['gc', '--keep-from', '-', '--force', '--data-dir', dir], '[]')).code).toBe(0);
    expect(ids(dir)).toEqual([]);
  });

  test('refuses a network with an unreadable record', async () => {
    const { dir } = leaky();
    writeFileSync(join(dir, 'testnet', 'leases', 'x@eth0.json'), 'garbage');
    const r = await cliIn(['gc', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(expectOneLine(r)).toContain('testnet: skipped');
    rmSync(join(dir, 'testnet', 'leases', 'x@eth0.json'));
    expect(ids(dir)).toHaveLength(4);
  });
});

describe('racing concurrent ADDs', () => {
  const ADDS = 30;

  async function race(dir: string, op: () => Promise<unknown>): Promise<Map<string, string>> {
    const conf = netConf(dir);
    const adds = Array.from({ length: ADDS }, (_, i) => {
      const id = `race${String(i).padStart(4, '0')}`;
      return runCniAsync({ command: 'ADD', containerID: id, netns: makeNetns(dir, `${id}-eth0`), stdin: conf }).then((r) => {
        if (r.code !== 0) throw new Error(`ADD ${id}: ${r.stdout}${r.stderr}`);
        return [id, (r.json.ips[0].address as string).split('/')[0]!] as const;
      });
    });
    // Start the CLI once the ADDs are under way, so it takes the lock between them.
    const [results] = await Promise.all([Promise.all(adds), new Promise((r) => setTimeout(r, 500)).then(op)]);
    return new Map(results);
  }

  /** Every raced ADD still holds exactly the address it was given; no address twice; no orphan claim. */
  function expectNoLoss(dir: string, added: Map<string, string>, survivors: string[]): void {
    const { leases } = expectConsistent(dir, 'testnet');
    const byId = new Map(leases.map((l) => [l.containerID, l.addresses]));
    for (const [id, a] of added) expect(byId.get(id), id).toEqual([a]);
    expect([...byId.keys()].sort()).toEqual([...added.keys(), ...survivors].sort());
    expect(new Set(added.values()).size).toBe(ADDS);
  }

  test('gc while 30 ADDs run', async () => {
    const dir = fresh();
    for (let i = 0; i < 10; i++) add(dir, `old${i}`);
    for (let i = 0; i < 10; i += 2) rmSync(join(dir, 'netns', `old${i}-eth0`));
    for (let i = 1; i < 10; i += 4) editLease(dir, 'testnet', `old${i}`, (l) => (l.bootId = STALE_BOOT));
    // old1, old5, old9 stale-boot; old0,2,4,6,8 netns gone; old3, old7 live.
    let gcRun: any;
    const added = await race(dir, async () => {
      gcRun = await cliAsync(['gc', '--data-dir', dir, '--json']);
    });
    expect(gcRun.code, gcRun.stderr).toBe(0);
    expect(
      freedJson
        .parse(gcRun.json)
        .freed.map((f) => f.containerID)
        .sort(),
    ).toEqual(['old0', 'old1', 'old2', 'old4', 'old5', 'old6', 'old8', 'old9']);
    expectNoLoss(dir, added, ['old3', 'old7']);
  });

  test('release and gc --keep-from while 30 ADDs run', async () => {
    const dir = fresh();
    const old = Array.from({ length: 6 }, (_, i) => add(dir, `old${i}`));
    const keep = join(dir, 'keep.json');
    writeFileSync(
      keep,
      JSON.stringify([
        { containerID: 'old0', ifname: 'eth0' },
        { containerID: 'old1', ifname: 'eth0' },
      ]),
    );
    let rel: any;
    let gcRun: any;
    const added = await race(dir, async () => {
      [rel, gcRun] = await Promise.all([
        cliAsync(['release', old[5]!, '--force', '--data-dir', dir, '--json']),
        cliAsync(['gc', '--keep-from', keep, '--data-dir', dir, '--json']),
      ]);
    });
    expect(rel.code === 0 || rel.code === 1, rel.stderr).toBe(true); // gc may have freed old5 first
    expect(gcRun.code, gcRun.stderr).toBe(0);
    const freed = [...(rel.json ? freedJson.parse(rel.json).freed : []), ...freedJson.parse(gcRun.json).freed].map((f) => f.containerID).sort();
    expect(freed).toEqual(['old2', 'old3', 'old4', 'old5']);
    // Leases the raced ADDs made after keep.json was written are not in it, and must survive.
    expectNoLoss(dir, added, ['old0', 'old1']);
  });
});
