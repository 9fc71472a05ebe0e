// Faults during the first contact with a host-local directory (adoption) and hand-edited cursors: every
// verb and every CLI command ends in a result or a CNI error with a code and the path, never code 999.
import { lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  addressOf,
  cli,
  expectCniError,
  expectOk,
  faultConf,
  isRoot,
  NOT_ROOT,
  readNetwork,
  stateTree,
  tempFiles,
  FaultSandbox,
  callCni,
  fillFs,
} from '../helpers/leasehold';
import { checkJson } from '../cli/schemas';

const box = new FaultSandbox('lh-fault-adopt-');
const root = box.root;
afterAll(() => box.remove());
const call = callCni;

/** A network directory as host-local leaves it: two reservations and its round-robin position. */
function hostLocalNetwork(dataDir: string, network: string): string {
  const dir = join(dataDir, network);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, '10.20.0.5'), 'hl-a\r\neth0');
  writeFileSync(join(dir, '10.20.0.6'), 'hl-b\r\neth0');
  writeFileSync(join(dir, 'last_reserved_ip.0'), '10.20.0.6');
  writeFileSync(join(dir, 'lock'), '');
  return dir;
}

describe.skipIf(!isRoot)(`adoption faults${isRoot ? '' : ` — skipped: ${NOT_ROOT}`}`, () => {
  afterEach(() => box.undo());

  it('a leases/ directory that cannot be written (chattr +i): code 5 naming it, nothing changes', async () => {
    const dataDir = join(root.dir, 'imm');
    const dir = hostLocalNetwork(dataDir, 'hl');
    mkdirSync(join(dir, 'leases'), { mode: 0o700 });
    box.makeImmutable(join(dir, 'leases'));
    const before = stateTree(dir);
    const r = await call('ADD', 'newcomer', faultConf(dataDir, 'hl'));
    expectCniError(r, [5], 'first ADD with an immutable leases/');
    expect(r.json.msg).toContain(join(dir, 'leases'));
    box.undo();
    expect(stateTree(dir)).toEqual(before);
    expect(tempFiles(dir)).toEqual([]);
  }, 30_000);

  it('a read-only network directory (read-only bind mount): code 5 naming it, nothing changes', async () => {
    const dataDir = join(root.dir, 'ro');
    const dir = hostLocalNetwork(dataDir, 'hl');
    box.readOnly(dir);
    const before = stateTree(dir);
    const r = await call('ADD', 'newcomer', faultConf(dataDir, 'hl'));
    expectCniError(r, [5], 'first ADD on a read-only network dir');
    expect(r.json.msg).toContain(dir);
    expect(r.json.msg).toMatch(/EROFS/);
    expect(stateTree(dir)).toEqual(before);
  }, 30_000);

  it('ENOSPC during adoption: code 5, no temp file; with space again the next ADD adopts both reservations', async () => {
    const mnt = box.tmpfs(join(root.dir, 'full'), 'size=64k,mode=0700');
    const dataDir = join(mnt, 'data');
    const dir = hostLocalNetwork(dataDir, 'hl');
    const filler = fillFs(mnt);
    const conf = faultConf(dataDir, 'hl');
    const r = await call('ADD', 'newcomer', conf);
    expectCniError(r, [5], 'first ADD on a full file system');
    expect(r.json.msg).toMatch(/ENOSPC/);
    expect(r.json.msg).toContain(dir);
    expect(tempFiles(dir)).toEqual([]);
    for (const f of readdirSync(filler)) unlinkSync(join(filler, f));
    const again = await call('ADD', 'newcomer', conf);
    expectOk(again, 'ADD once space is back');
    expect(['10.20.0.5', '10.20.0.6']).not.toContain(addressOf(again));
    const st = readNetwork(dir);
    expect(st.problems).toEqual([]);
    expect([...st.records.keys()].sort()).toEqual(['hl-a@eth0', 'hl-b@eth0', 'newcomer@eth0']);
  }, 60_000);
});

describe('a round-robin cursor that is not an address', () => {
  const dataDir = join(root.dir, 'cursor');
  const conf = faultConf(dataDir, 'cur', { ranges: [[{ subnet: '10.20.0.0/29' }]] });
  // Range set 0's cursor from the cursors link, set 1's from leasehold.json: neither is an address.
  const garble = (): void => {
    writeFileSync(join(dataDir, 'cur', 'leasehold.json'), '{"format":1,"network":"cur","cursors":{"0":"10.20.0.5","1":42}}\n');
    rmSync(join(dataDir, 'cur', 'cursors'), { force: true, recursive: true });
    symlinkSync('0=not-an-ip', join(dataDir, 'cur', 'cursors'));
  };

  it('every verb works and round-robin restarts at the range start', async () => {
    expectOk(await call('ADD', 'first', conf));
    garble();
    const status = await call('STATUS', '', { ...conf, cniVersion: '1.1.0' });
    expect([status.code, status.stdout, status.stderr]).toEqual([0, '', '']);
    garble();
    const add = await call('ADD', 'second', conf);
    expectOk(add);
    expect(addressOf(add)).toBe('10.20.0.3');
    for (const [verb, id] of [
      ['CHECK', 'second'],
      ['DEL', 'first'],
    ] as const) {
      garble();
      expectOk(await call(verb, id, conf), verb);
    }
    garble();
    expectOk(await call('GC', '', { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'second', ifname: 'eth0' }] }), 'GC');
  }, 30_000);

  it('a cursors entry that is not a symlink is reported, and the next ADD replaces it', async () => {
    const link = join(dataDir, 'cur', 'cursors');
    rmSync(link, { force: true, recursive: true });
    mkdirSync(join(link, 'inside'), { recursive: true });
    const check = cli(['check', '--data-dir', dataDir, '--json']);
    const ignored = JSON.parse(check.stdout).findings.filter((f: { kind: string }) => f.kind === 'cursor-ignored');
    expect(ignored.map((f: { detail: string }) => f.detail).join('\n')).toContain('is not a symbolic link');
    // A directory cannot be renamed over: the lease is made, the cursor is not moved.
    expectOk(await call('ADD', 'third', conf));
    expect(lstatSync(link).isDirectory()).toBe(true);
    rmSync(link, { recursive: true });
    writeFileSync(link, 'a file');
    expectOk(await call('ADD', 'fourth', conf));
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toMatch(/^0=10\.20\.0\.\d$/);
  }, 30_000);

  it('every CLI command works; check reports the cursor', () => {
    garble();
    const check = cli(['check', '--data-dir', dataDir, '--json']);
    expect(check.code, check.stderr).toBe(1);
    checkJson.parse(JSON.parse(check.stdout));
    const kinds = JSON.parse(check.stdout).findings.map((f: { kind: string }) => f.kind);
    expect(kinds.filter((k: string) => k === 'cursor-ignored')).toHaveLength(2);
    for (const args of [
      ['status'],
      ['list'],
      ['metrics'],
      ['gc', '--dry-run'],
      ['gc'],
      ['import-host-local', '--dry-run'],
      ['import-host-local'],
      ['release', '10.20.0.3'],
    ]) {
      garble();
      const r = cli([...args, '--data-dir', dataDir]);
      expect(r.stderr, args.join(' ')).not.toMatch(/internal error/);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBeLessThan(2);
    }
  });
});
