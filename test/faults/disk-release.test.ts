// DEL frees what the attachment holds whatever else in the network directory is broken (issue 20, items 6
// and 7), and ADD refuses what it cannot read. In-process, through runPlugin and the disk store.
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Code } from '../../src/base/errors';
import { cliIn } from '../helpers/leasehold';
import { runPlugin } from '../../src/plugin/dispatch';
import { DiskStore } from '../../src/store/disk/disk-store';

const root = mkdtempSync(join(tmpdir(), 'lh-disk-release-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh data directory with containers a (10.9.0.2) and b (10.9.0.3) added. */
async function network() {
  const dataDir = join(root, `d${n++}`);
  const dir = join(dataDir, 'net1');
  const deps = { storeFor: async () => new DiskStore(dataDir), stdinIsTerminal: () => false };
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'net1', ipam: { type: 'leasehold', ranges: [[{ subnet: '10.9.0.0/29' }]], lockTimeoutMs: 5000 } });
  const call = async (command: string, id: string, extra: Record<string, unknown> = {}) => {
    const stdin = JSON.stringify({ ...JSON.parse(conf), ...extra });
    const r = await runPlugin({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${id}`, CNI_IFNAME: 'eth0' }, () => stdin, deps);
    return { ...r, json: r.stdout ? JSON.parse(r.stdout) : undefined };
  };
  expect((await call('ADD', 'a')).json.ips[0].address).toBe('10.9.0.2/29');
  expect((await call('ADD', 'b')).json.ips[0].address).toBe('10.9.0.3/29');
  const claims = () => readdirSync(dir).filter((f) => /^\d/.test(f));
  const record = (id: string) => join(dir, 'leases', `${id}@eth0.json`);
  return { dir, call, claims, record };
}

describe('a refused ADD changes nothing', () => {
  it('a repeated ADD whose claim file names no one is refused, and its record keeps its bytes and mode', async () => {
    const { dir, call, record } = await network();
    // The record as someone left it: other whitespace and a mode of their own; its claim overwritten.
    writeFileSync(record('a'), `${JSON.stringify(JSON.parse(readFileSync(record('a'), 'utf8')), null, 2)}\n`);
    chmodSync(record('a'), 0o644);
    writeFileSync(join(dir, '10.9.0.2'), 'not a claim');
    const before = readFileSync(record('a'));
    const add = await call('ADD', 'a');
    expect(add.json.code, add.stdout).toBe(Code.AddressUnavailable);
    expect(readFileSync(record('a'))).toEqual(before);
    expect(statSync(record('a')).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(dir, '10.9.0.2'), 'utf8')).toBe('not a claim');
  });
});

describe('DEL frees the attachment whatever else is broken', () => {
  it('an unreadable leasehold.json (only the cursors) blocks no DEL; ADD refuses it with code 5 and leaves it', async () => {
    const { dir, call, claims, record } = await network();
    writeFileSync(join(dir, 'leasehold.json'), '{"format":1,"cursors":');
    const del = await call('DEL', 'a');
    expect(del.exitCode, del.stdout).toBe(0);
    expect(claims()).toEqual(['10.9.0.3']);
    expect(() => readFileSync(record('a'))).toThrow(/ENOENT/);
    const add = await call('ADD', 'c');
    expect(add.json.code).toBe(Code.IoFailure);
    expect(add.json.msg).toContain(join(dir, 'leasehold.json'));
    expect(add.json.msg).toMatch(/move the file aside/);
    expect(readFileSync(join(dir, 'leasehold.json'), 'utf8')).toBe('{"format":1,"cursors":');
  });

  it('a record naming a non-canonical address is code 5 naming it on ADD and CHECK; DEL frees its claim', async () => {
    const { call, claims, record } = await network();
    writeFileSync(record('b'), readFileSync(record('b'), 'utf8').replace('10.9.0.3', '10.9.0.03'));
    for (const verb of ['ADD', 'CHECK']) {
      const r = await call(verb, 'b');
      expect(r.json.code, r.stdout).toBe(Code.IoFailure);
      expect(r.json.msg).toContain(record('b'));
    }
    expect(claims()).toEqual(['10.9.0.2', '10.9.0.3']);
    const del = await call('DEL', 'b');
    expect(del.exitCode, del.stdout).toBe(0);
    expect(claims()).toEqual(['10.9.0.2']);
    expect(() => readFileSync(record('b'))).toThrow(/ENOENT/);
  });

  it("a record that names another attachment frees neither that attachment's claims nor its record", async () => {
    const { call, claims, record } = await network();
    writeFileSync(record('a'), readFileSync(record('b')));
    expect((await call('DEL', 'a')).exitCode).toBe(0);
    expect(claims()).toEqual(['10.9.0.3']);
    expect((await call('CHECK', 'b')).exitCode).toBe(0);
  });

  it('a claim left without any record (a DEL killed between the two) is left by a repeated DEL, and GC frees it', async () => {
    const { call, claims, record } = await network();
    rmSync(record('a'));
    expect((await call('DEL', 'a')).exitCode).toBe(0);
    expect(claims()).toEqual(['10.9.0.2', '10.9.0.3']);
    const gc = await call('GC', 'a', { 'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }] });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(claims()).toEqual(['10.9.0.3']);
  });

  it('a leasehold.json removed by hand: DEL removes the record and frees its claims', async () => {
    const { dir, call, claims, record } = await network();
    rmSync(join(dir, 'leasehold.json'));
    expect((await call('DEL', 'a')).exitCode).toBe(0);
    expect(claims()).toEqual(['10.9.0.3']);
    expect(() => readFileSync(record('a'))).toThrow(/ENOENT/);
  });

  it("a DEL before leasehold's first ADD in host-local's directory frees host-local's reservation", async () => {
    const dataDir = join(root, `hl${n++}`);
    const dir = join(dataDir, 'net1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '10.9.0.4'), 'a\r\neth0');
    writeFileSync(join(dir, '10.9.0.5'), 'b\r\neth0');
    writeFileSync(join(dir, 'last_reserved_ip.0'), '10.9.0.5');
    const deps = { storeFor: async () => new DiskStore(dataDir), stdinIsTerminal: () => false };
    const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'net1', ipam: { type: 'leasehold', ranges: [[{ subnet: '10.9.0.0/29' }]] } });
    const r = await runPlugin({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_NETNS: '', CNI_IFNAME: 'eth0' }, () => conf, deps);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(readdirSync(dir).filter((f) => /^\d/.test(f))).toEqual(['10.9.0.5']);
  });

  it('a leases/ replaced by a symlink: DEL frees the claims and touches nothing behind the link; ADD refuses', async () => {
    const { dir, call, claims } = await network();
    const outside = join(root, `outside${n}`);
    renameSync(join(dir, 'leases'), outside);
    symlinkSync(outside, join(dir, 'leases'));
    const before = readdirSync(outside).sort();
    expect((await call('DEL', 'a')).exitCode).toBe(0);
    expect(claims()).toEqual(['10.9.0.3']);
    expect(readdirSync(outside).sort()).toEqual(before);
    const add = await call('ADD', 'c');
    expect(add.json.code).toBe(Code.IoFailure);
    expect(add.json.msg).toContain(join(dir, 'leases'));
  });

  it('a directory at a record name is left in place; the claims are freed', async () => {
    const { call, claims, record } = await network();
    rmSync(record('a'));
    mkdirSync(record('a'));
    expect((await call('DEL', 'a')).exitCode).toBe(0);
    expect(claims()).toEqual(['10.9.0.3']);
    expect((await call('ADD', 'a')).json.code).toBe(Code.IoFailure);
  });
});

describe('the lock file is only ever a lock', () => {
  it('a lock hard-linked to a file outside the data directory: calls work and never write into that file', async () => {
    const { dir, call } = await network();
    const outside = join(root, `outside-lock${n}`);
    writeFileSync(outside, 'sentinel\n');
    rmSync(join(dir, 'lock'));
    linkSync(outside, join(dir, 'lock'));
    expect((await call('ADD', 'c')).exitCode).toBe(0);
    expect((await call('DEL', 'a')).exitCode).toBe(0);
    expect(readFileSync(outside, 'utf8')).toBe('sentinel\n');
  });

  it('a FIFO in place of the lock is code 5 naming it, at once', async () => {
    const { dir, call } = await network();
    rmSync(join(dir, 'lock'));
    expect(spawnSync('mkfifo', [join(dir, 'lock')]).status).toBe(0);
    for (const verb of ['ADD', 'DEL']) {
      const r = await call(verb, 'a');
      expect(r.json.code, r.stdout).toBe(Code.IoFailure);
      expect(r.json.msg).toContain(join(dir, 'lock'));
    }
  });
});

describe("first contact adopts host-local's claims and changes nothing else", () => {
  it('a claim naming a path is adopted by no one: nothing is written outside the data directory', async () => {
    const { dir, call } = await network();
    rmSync(join(dir, 'leasehold.json'));
    const outside = join(root, `adopt-outside${n}`);
    mkdirSync(outside);
    writeFileSync(join(dir, '10.9.0.5'), `/../../../${outside.split('/').pop()}/pwn\r\neth0`);
    expect((await call('ADD', 'c')).exitCode).toBe(0);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("records already there (a state file removed by hand) are kept as they are, not rewritten as host-local's", async () => {
    const { dir, call, record } = await network();
    const before = readFileSync(record('b'), 'utf8');
    rmSync(join(dir, 'leasehold.json'));
    expect((await call('ADD', 'c')).exitCode).toBe(0);
    expect(readFileSync(record('b'), 'utf8')).toBe(before);
  });

  it('a host-local cursor that cannot be read (a symlink) is ignored like any bad cursor', async () => {
    const { dir, call } = await network();
    rmSync(join(dir, 'leasehold.json'));
    symlinkSync('/etc/hostname', join(dir, 'last_reserved_ip.0'));
    expect((await call('ADD', 'c')).exitCode).toBe(0);
  });

  it('an unreadable record stops the adoption: ADD refuses with code 5 rather than write over it', async () => {
    const { dir, call, record } = await network();
    writeFileSync(record('b'), '{"format":1');
    rmSync(join(dir, 'leasehold.json'));
    const r = await call('ADD', 'c');
    expect(r.json.code).toBe(Code.IoFailure);
    expect(r.json.msg).toContain(record('b'));
    expect(readFileSync(record('b'), 'utf8')).toBe('{"format":1');
  });
});

describe('the CLI lists what it can', () => {
  it('a claim that is not a regular file (a FIFO) is shown by leasehold check as a claim of no one, not a failure', async () => {
    const { dir, call } = await network();
    expect(spawnSync('mkfifo', [join(dir, '10.9.0.5')]).status).toBe(0);
    const conf = join(root, `conf${n}.json`);
    writeFileSync(conf, JSON.stringify({ cniVersion: '1.1.0', name: 'net1', ipam: { type: 'leasehold', ranges: [[{ subnet: '10.9.0.0/29' }]] } }));
    const r = await cliIn(['check', '--data-dir', dirname(dir), '--config', conf, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('10.9.0.5');
    expect((await call('CHECK', 'a')).exitCode).toBe(0);
  });

  it('GC frees a claim that is not a regular file (it names no one) instead of failing with code 5', async () => {
    const { dir, call, claims } = await network();
    expect(spawnSync('mkfifo', [join(dir, '10.9.0.5')]).status).toBe(0);
    const gc = await call('GC', '', {
      'cni.dev/valid-attachments': [
        { containerID: 'a', ifname: 'eth0' },
        { containerID: 'b', ifname: 'eth0' },
      ],
    });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(claims()).toEqual(['10.9.0.2', '10.9.0.3']);
  });
});
