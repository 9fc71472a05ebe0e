// Ownership of the store: directories leasehold creates are 0700 and its files 0600 (even under umask 000),
// and a symlink (or any non-regular file) where the store expects its own directory or file is refused with
// a CNI error, without writing through it and without blocking.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressOf, BIN, cniEnv, expectCniError, faultConf, parseReply, startCni, stateTree, tempDataDir, tree } from '../helpers/leasehold';

const root = tempDataDir('lh-fault-perm-');
afterAll(() => root.remove());

const call = (command: string, containerID: string, conf: object, killAfterMs = 15_000) =>
  startCni({ command, containerID, stdin: conf }, {}, { killAfterMs }).done;

/** One call with umask 000, so only leasehold's explicit modes protect its files. */
function callUmask0(command: string, containerID: string, conf: object): Promise<ReturnType<typeof parseReply>> {
  return new Promise((res) => {
    const p = spawn('/bin/sh', ['-c', 'umask 000; exec "$0"', BIN], { env: cniEnv({ command, containerID }) });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code, signal) => res(parseReply(code, signal, out, err)));
    p.stdin.end(JSON.stringify(conf));
  });
}

const mode = (p: string): string => (lstatSync(p).mode & 0o7777).toString(8);

/** A data dir with one established lease, to copy or link to. */
async function established(dataDir: string, network = 'permnet'): Promise<{ conf: Record<string, unknown>; netDir: string; address: string }> {
  const conf = faultConf(dataDir, network, { lockTimeoutMs: 5_000 });
  const r = await call('ADD', 'existing', conf);
  expect(r.code, r.stdout).toBe(0);
  return { conf, netDir: join(dataDir, network), address: addressOf(r) };
}

describe('permissions: modes of what leasehold creates', () => {
  it('data dir, network dir and leases dir are 0700; leasehold.json, records, claims and lock are 0600 (umask 000)', async () => {
    const dataDir = join(root.dir, 'modes', 'nested', 'data');
    const conf = faultConf(dataDir, 'permnet');
    const r = await callUmask0('ADD', 'c1', conf);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const netDir = join(dataDir, 'permnet');
    const address = addressOf(r);
    expect(mode(dataDir)).toBe('700');
    expect(mode(netDir)).toBe('700');
    expect(mode(join(netDir, 'leases'))).toBe('700');
    for (const f of ['leasehold.json', 'lock', address, 'leases/c1@eth0.json']) expect(`${f} ${mode(join(netDir, f))}`).toBe(`${f} 600`);
    // Every other file or directory in the tree is private too. (Linux never checks a symlink's own mode.)
    const want = { dir: '700', file: '600', symlink: '777', other: '-' };
    for (const [p, e] of tree(dataDir)) expect(`${p} ${e.mode.toString(8)}`).toBe(`${p} ${want[e.kind]}`);
  }, 30_000);
});

describe('permissions: symlinks and special files are refused', () => {
  it('a data dir that is a symlink elsewhere', async () => {
    const real = join(root.dir, 'sym-data-real');
    mkdirSync(real);
    const before = tree(real);
    const link = join(root.dir, 'sym-data-link');
    symlinkSync(real, link);
    for (const verb of ['ADD', 'DEL', 'CHECK']) {
      const r = await call(verb, 'c1', faultConf(link, 'permnet'));
      expectCniError(r, [5, 7], `${verb} with a symlinked data dir`);
      expect(r.json.msg).toContain(link);
    }
    expect(tree(real)).toEqual(before);
  }, 30_000);

  it('a network dir that is a symlink', async () => {
    const source = await established(join(root.dir, 'sym-net-src'));
    const real = join(root.dir, 'sym-net-real');
    cpSync(source.netDir, real, { recursive: true });
    const dataDir = join(root.dir, 'sym-net-data');
    mkdirSync(dataDir, { mode: 0o700 });
    symlinkSync(real, join(dataDir, 'permnet'));
    const before = stateTree(real);
    for (const [verb, id] of [
      ['ADD', 'newcomer'],
      ['ADD', 'existing'],
      ['DEL', 'existing'],
      ['CHECK', 'existing'],
    ] as const) {
      const r = await call(verb, id, source.conf.ipam ? { ...source.conf, ipam: { ...(source.conf.ipam as object), dataDir } } : {});
      expectCniError(r, [5, 7], `${verb} ${id} with a symlinked network dir`);
      expect(r.json.msg).toContain(join(dataDir, 'permnet'));
    }
    expect(stateTree(real)).toEqual(before);
  }, 30_000);

  for (const which of ['leasehold.json', 'leases/existing@eth0.json', 'leases', 'lock'] as const) {
    it(`${which} as a symlink to a file elsewhere`, async () => {
      const dataDir = join(root.dir, `sym-${which.replace(/\W+/g, '-')}`);
      const { conf, netDir, address } = await established(dataDir);
      const target = join(root.dir, `target-${which.replace(/\W+/g, '-')}`);
      // The target holds what was there (so a reader that follows the link would find valid content).
      cpSync(join(netDir, which), target, { recursive: true });
      rmSync(join(netDir, which), { recursive: true });
      symlinkSync(target, join(netDir, which));
      const beforeTarget = tree(root.dir).get(target.slice(root.dir.length + 1));
      const beforeTargetTree = lstatSync(target).isDirectory() ? tree(target) : undefined;
      const before = stateTree(dataDir);
      const calls: Array<[string, string]> = [
        ['ADD', which.startsWith('leases/') ? 'existing' : 'newcomer'],
        ['CHECK', 'existing'],
      ];
      for (const [verb, id] of calls) {
        const r = await call(verb, id, conf);
        expectCniError(r, [5, 7], `${verb} ${id} with ${which} a symlink`);
        expect(r.json.msg, `${verb} names the link`).toContain(join(netDir, which));
      }
      expect(stateTree(dataDir)).toEqual(before);
      // DEL needs only the attachment's own record and claims: it frees them (a record that is a link is
      // removed, never followed), unless the lock itself cannot be taken.
      const del = await call('DEL', 'existing', conf);
      if (which === 'lock') {
        expectCniError(del, [5], `DEL with ${which} a symlink`);
        expect(stateTree(dataDir)).toEqual(before);
      } else {
        expect(del.code, del.stdout).toBe(0);
        const after = stateTree(dataDir);
        expect(Object.keys(after)).not.toContain(`permnet/${address}`);
        expect(Object.keys(after)).not.toContain('permnet/leases/existing@eth0.json');
        if (which !== 'leases/existing@eth0.json') expect(after[`permnet/${which}`]).toEqual(before[`permnet/${which}`]);
      }
      expect(tree(root.dir).get(target.slice(root.dir.length + 1))).toEqual(beforeTarget);
      if (beforeTargetTree) expect(tree(target)).toEqual(beforeTargetTree);
    }, 30_000);
  }

  // A FIFO cannot be written by accident, but the store must not open one and wait forever (with the
  // network lock held, that would stall every other call on the network).
  for (const [which, verb] of [
    ['leasehold.json', 'ADD'],
    ['leases/existing@eth0.json', 'ADD'],
    ['leases/existing@eth0.json', 'DEL'],
  ] as const) {
    it(`${which} as a FIFO: ${verb} answers at once instead of blocking with the lock held`, async () => {
      const dataDir = join(root.dir, `fifo-${which.replace(/\W+/g, '-')}-${verb}`);
      const { conf, netDir, address } = await established(dataDir);
      rmSync(join(netDir, which));
      spawnSync('mkfifo', ['-m', '600', join(netDir, which)]);
      const r = await call(verb, 'existing', conf, 5_000);
      expect(r.signal, `${verb} with ${which} a FIFO must not hang`).toBeNull();
      if (verb === 'DEL') {
        // The FIFO is at this attachment's record name: removed, and the claims naming it freed.
        expect(r.code, r.stdout).toBe(0);
        expect(readdirSync(netDir)).not.toContain(address);
        expect(readdirSync(join(netDir, 'leases'))).not.toContain('existing@eth0.json');
        return;
      }
      expectCniError(r, [5, 7], `${verb} with ${which} a FIFO`);
      expect(r.json.msg).toContain(join(netDir, which));
      expect(readdirSync(netDir)).toContain('lock');
    }, 30_000);
  }
});
