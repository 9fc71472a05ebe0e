// Storage faults: a read-only file system, files the kernel will not let even root change (chattr +i),
// a full file system (ENOSPC on a tiny tmpfs), and corrupt or future-format state. Every case must end in a
// CNI error (code 5 or 7) naming the file, with the previous state byte-identical and no temp files left.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  addressOf,
  expectCniError,
  faultConf,
  isRoot,
  NOT_ROOT,
  run,
  readNetwork,
  stateTree,
  tempFiles,
  tree,
  FaultSandbox,
  callCni,
  cliIn,
  fillFs,
  writeConflist,
} from '../helpers/leasehold';
import { DiskStore } from '../../src/store/disk/disk-store';

const box = new FaultSandbox('lh-fault-disk-');
const root = box.root;
afterAll(() => box.remove());
const call = callCni;

async function established(dataDir: string, network: string): Promise<{ conf: Record<string, unknown>; netDir: string; address: string }> {
  const conf = faultConf(dataDir, network, { lockTimeoutMs: 10_000 });
  const r = await call('ADD', 'existing', conf);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return { conf, netDir: join(dataDir, network), address: addressOf(r) };
}

/** The error must name a file under `dir` (the file it could not read or write). */
function expectNamesFileUnder(msg: string, dir: string): void {
  expect(msg).toContain(dir);
}

describe.skipIf(!isRoot)(`disk: read-only data directory (tmpfs remounted ro)${isRoot ? '' : ` — skipped: ${NOT_ROOT}`}`, () => {
  const mnt = join(root.dir, 'ro');
  afterEach(() => spawnSync('mount', ['-o', 'remount,rw', mnt]));

  it('ADD, DEL and CHECK fail with code 5 naming the file; the state is byte-identical', async () => {
    box.tmpfs(mnt, 'size=4m,mode=0700');
    const dataDir = join(mnt, 'data');
    const { conf, netDir } = await established(dataDir, 'ronet');
    const before = tree(mnt);
    run('mount', ['-o', 'remount,ro', mnt]);

    for (const [verb, id] of [
      ['ADD', 'newcomer'],
      ['DEL', 'existing'],
      ['ADD', 'existing'],
      ['CHECK', 'existing'],
    ] as const) {
      const r = await call(verb, id, conf);
      // CHECK only reads, so succeeding is as good as failing cleanly; writers must fail.
      if (verb === 'CHECK' && r.code === 0) continue;
      expectCniError(r, [5, 7], `${verb} ${id} on a read-only fs`);
      expectNamesFileUnder(r.json.msg, netDir);
    }
    // A network that does not exist yet cannot be created either.
    const fresh = await call('ADD', 'newcomer', faultConf(dataDir, 'other-net'));
    expectCniError(fresh, [5, 7], 'ADD on a new network on a read-only fs');
    expectNamesFileUnder(fresh.json.msg, dataDir);

    run('mount', ['-o', 'remount,rw', mnt]);
    expect(tree(mnt)).toEqual(before);
    expect(tempFiles(mnt)).toEqual([]);
  }, 60_000);

  it("the readers (check, status, list, metrics, import-host-local --dry-run, and the store's readLocked and readUnlocked) succeed and write nothing", async () => {
    box.tmpfs(mnt, 'size=4m,mode=0700');
    const dataDir = join(mnt, 'data');
    const { conf } = await established(dataDir, 'ronet');
    const { ipam } = conf as { ipam: Record<string, unknown> };
    const confDir = join(root.dir, 'ro-conf');
    writeConflist(confDir, '10-ronet.conflist', 'ronet', ipam);
    const before = tree(mnt);
    run('mount', ['-o', 'remount,ro', mnt]);

    for (const cmd of ['check', 'status', 'list', 'metrics']) {
      const r = await cliIn([cmd, '--data-dir', dataDir, '--cni-conf-dir', confDir]);
      // check's exit code 1 is its findings (the test's netns path does not exist), read all the same.
      expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).toBe(cmd === 'check' ? 1 : 0);
      if (cmd === 'check') expect(r.stdout).toContain('1 lease(s), 1 claim(s)');
    }
    const dry = await cliIn(['import-host-local', '--data-dir', dataDir, '--dry-run']);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toContain('nothing to import');
    const store = new DiskStore(dataDir);
    const reader = await store.readLocked('ronet', 1000);
    try {
      expect((await reader.listLeases()).leases.map((l) => l.containerID)).toEqual(['existing']);
    } finally {
      reader.close();
    }
    expect((await store.readUnlocked('ronet').listClaims()).length).toBe(1);

    run('mount', ['-o', 'remount,rw', mnt]);
    expect(tree(mnt)).toEqual(before);
  }, 60_000);
});

describe.skipIf(!isRoot)(`disk: files even root cannot change (chattr +i)${isRoot ? '' : ` — skipped: ${NOT_ROOT}`}`, () => {
  const lock = (p: string): void => box.makeImmutable(p);
  const unlock = (): void => box.undoImmutable();
  afterEach(unlock);

  it('a lease record that cannot be removed: DEL fails with code 5 naming it, nothing changes', async () => {
    const { conf, netDir } = await established(join(root.dir, 'imm1'), 'immnet');
    const record = join(netDir, 'leases', 'existing@eth0.json');
    lock(record);
    const before = stateTree(netDir);
    const r = await call('DEL', 'existing', conf);
    expectCniError(r, [5, 7], 'DEL whose record is immutable');
    expect(r.json.msg).toContain(record);
    unlock();
    expect(stateTree(netDir)).toEqual(before);
    expect(tempFiles(netDir)).toEqual([]);
  }, 30_000);

  it('a claim that cannot be removed: DEL fails with code 5 naming it, nothing changes', async () => {
    const { conf, netDir, address } = await established(join(root.dir, 'imm2'), 'immnet');
    const claim = join(netDir, address);
    lock(claim);
    const before = stateTree(netDir);
    const r = await call('DEL', 'existing', conf);
    expectCniError(r, [5, 7], 'DEL whose claim is immutable');
    expect(r.json.msg).toContain(claim);
    unlock();
    expect(stateTree(netDir)).toEqual(before);
    expect(tempFiles(netDir)).toEqual([]);
  }, 30_000);

  it('a leases directory that cannot be written: ADD fails with code 5 naming it, nothing changes', async () => {
    const { conf, netDir } = await established(join(root.dir, 'imm3'), 'immnet');
    lock(join(netDir, 'leases'));
    const before = stateTree(netDir);
    const r = await call('ADD', 'newcomer', conf);
    expectCniError(r, [5, 7], 'ADD with an immutable leases dir');
    expect(r.json.msg).toContain(join(netDir, 'leases'));
    unlock();
    expect(stateTree(netDir)).toEqual(before);
    expect(tempFiles(netDir)).toEqual([]);
  }, 30_000);

  it('a network directory where no claim can be created: ADD fails with code 5 naming the claim, nothing changes', async () => {
    const { conf, netDir } = await established(join(root.dir, 'imm4'), 'immnet');
    lock(netDir);
    const before = stateTree(netDir);
    const r = await call('ADD', 'newcomer', conf);
    expectCniError(r, [5, 7], 'ADD with an immutable network dir');
    expect(r.json.msg).toContain(netDir);
    unlock();
    // The record written before the failed claim must be gone again.
    expect(stateTree(netDir)).toEqual(before);
    expect(tempFiles(netDir)).toEqual([]);
  }, 30_000);
});

describe.skipIf(!isRoot)(`disk: ENOSPC on a tiny tmpfs (size=64k)${isRoot ? '' : ` — skipped: ${NOT_ROOT}`}`, () => {
  for (const pages of [0, 1, 2]) {
    it(`ADD with ${pages} free page(s) fails with code 5 naming the file; the state is byte-identical`, async () => {
      const mnt = join(root.dir, `full${pages}`);
      box.tmpfs(mnt, 'size=64k,mode=0700');
      const dataDir = join(mnt, 'data');
      const { conf, netDir } = await established(dataDir, 'fullnet');
      fillFs(mnt, pages);
      const before = stateTree(dataDir);
      const r = await call('ADD', 'newcomer', conf);
      if (pages === 2 && r.code === 0) {
        // Two pages can be enough (record + claim; leasehold.json replaced in place): then it must be whole.
        const st = readNetwork(netDir);
        expect(st.problems).toEqual([]);
        expect(st.leased.get(addressOf(r))).toBe('newcomer@eth0');
      } else {
        expectCniError(r, [5, 7], `ADD with ${pages} free pages`);
        expect(r.json.msg).toMatch(/ENOSPC/);
        expectNamesFileUnder(r.json.msg, netDir);
        expect(stateTree(dataDir), `after: ${r.json.msg}`).toEqual(before);
      }
      expect(tempFiles(dataDir)).toEqual([]);
      // A full disk never blocks DEL: it only removes files.
      const del = await call('DEL', 'existing', conf);
      expect(del.code, del.stdout).toBe(0);
      expect(readNetwork(netDir).records.has('existing@eth0')).toBe(false);
    }, 60_000);
  }

  it('the first ADD on a new network with no space fails with code 5 naming leasehold.json, and leaves no temp file', async () => {
    const mnt = join(root.dir, 'fullnew');
    box.tmpfs(mnt, 'size=64k,mode=0700');
    fillFs(mnt);
    const dataDir = join(mnt, 'data');
    const r = await call('ADD', 'first', faultConf(dataDir, 'newnet'));
    expectCniError(r, [5, 7], 'first ADD on a full fs');
    expect(r.json.msg).toContain(join(dataDir, 'newnet'));
    expect(tempFiles(mnt)).toEqual([]);
    expect(readNetwork(join(dataDir, 'newnet')).records.size).toBe(0);
  }, 30_000);
});

describe('disk: corrupt and future-format state', () => {
  const cases: Array<{ what: string; file: 'state' | 'record'; content: (orig: string) => string }> = [
    { what: 'truncated leasehold.json', file: 'state', content: (o) => o.slice(0, Math.floor(o.length / 2)) },
    { what: 'empty leasehold.json', file: 'state', content: () => '' },
    { what: 'leasehold.json of NUL bytes', file: 'state', content: (o) => '\0'.repeat(o.length) },
    { what: 'leasehold.json that is not an object', file: 'state', content: () => '[1,2,3]\n' },
    { what: 'leasehold.json without cursors', file: 'state', content: () => '{"format":1,"network":"corruptnet"}\n' },
    { what: 'future leasehold.json format 99', file: 'state', content: () => '{"format":99,"network":"corruptnet","cursors":{}}\n' },
    { what: 'truncated lease record', file: 'record', content: (o) => o.slice(0, Math.floor(o.length / 2)) },
    { what: 'lease record of garbage bytes', file: 'record', content: () => '\u00ff\u00fe garbage {{{' },
    { what: 'lease record with addresses not a list', file: 'record', content: (o) => o.replace(/"addresses":\[[^\]]*\]/, '"addresses":"10.20.0.2"') },
    { what: 'future lease record format 99', file: 'record', content: (o) => o.replace('"format":1', '"format":99') },
  ];

  for (const c of cases) {
    it(`${c.what}: ADD and CHECK fail with code 5 or 7 naming the file, which stays byte-identical; DEL still frees the lease`, async () => {
      const dataDir = join(root.dir, `corrupt-${c.what.replace(/\W+/g, '-')}`);
      const { conf, netDir, address } = await established(dataDir, 'corruptnet');
      const path = c.file === 'state' ? join(netDir, 'leasehold.json') : join(netDir, 'leases', 'existing@eth0.json');
      writeFileSync(path, c.content(readFileSync(path, 'utf8')));
      const before = stateTree(dataDir);
      const calls: Array<[string, string]> = [
        ['ADD', 'existing'],
        ['CHECK', 'existing'],
      ];
      if (c.file === 'state') calls.push(['ADD', 'newcomer']);
      for (const [verb, id] of calls) {
        const r = await call(verb, id, conf);
        expectCniError(r, [5, 7], `${verb} ${id} with ${c.what}`);
        expect(r.json.msg, `${verb} ${id}`).toContain(path);
        expect(stateTree(dataDir), `${verb} ${id} changed nothing`).toEqual(before);
      }
      // DEL needs nothing but the attachment's own record and claims: no pod teardown waits on the rest.
      const other = await call('DEL', 'someone-else', conf);
      expect(other.code, other.stdout).toBe(0);
      expect(stateTree(dataDir), 'DEL of an unknown attachment changed nothing').toEqual(before);
      const del = await call('DEL', 'existing', conf);
      expect(del.code, del.stdout).toBe(0);
      const after = stateTree(dataDir);
      expect(Object.keys(after)).not.toContain(`corruptnet/${address}`);
      expect(Object.keys(after)).not.toContain('corruptnet/leases/existing@eth0.json');
      if (c.file === 'state') expect(after['corruptnet/leasehold.json']).toEqual(before['corruptnet/leasehold.json']);
      expect(tempFiles(dataDir)).toEqual([]);
      rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);
  }
});
