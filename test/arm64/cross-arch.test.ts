// The arm64 build itself (the plugin's own tests also run on it: vitest.config.mts): it is an aarch64 executable
// whose code cache V8 takes; a node's data dir holds the same bytes whichever architecture wrote it, and each
// carries on from what the other wrote (a reinstall with the other package keeps the node's leases); and its
// Debian package. Run under qemu-user on this amd64 machine.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type CniCall, expectConsistent, netConf, ROOT, runCni, tempDataDir } from '../helpers/leasehold';
import { cannotTest, executable, writeRunner } from '../../scripts/arch.mjs';

const missing = cannotTest('arm64');
const ARM64 = executable('arm64');
// scripts/setup.sh installs qemu and builds dist/leasehold-arm64, so on CI these must run.
if (missing && process.env.CI === 'true') throw new Error(`the arm64 tests cannot run on CI: ${missing}`);
const why = missing ? ` (skipped: ${missing})` : '';
const AMD64 = join(ROOT, 'dist', 'leasehold');
const sha256 = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

/** Every entry under dir: kind, mode, link count and content, with the times a lease records masked. */
function bytes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, r);
      const st = lstatSync(p);
      const head = `${(st.mode & 0o7777).toString(8)} ${st.nlink}`;
      if (st.isSymbolicLink()) out[r] = `${head} -> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = `${head} dir`;
        walk(r);
      } else if (name === 'lock') out[r] = `${head} (the pid of the last holder)`;
      else out[r] = `${head} ${readFileSync(p, 'utf8').replace(/"createdAt":"[^"]+"/g, '"createdAt":"(time)"')}`;
    }
  };
  walk('');
  return out;
}

describe.skipIf(!!missing)(`arm64${why}`, () => {
  const ARM = missing ? '' : writeRunner('arm64');
  const dirs: Array<{ remove(): void }> = [];
  const fresh = (): string => {
    const d = tempDataDir('lh-arm64-');
    dirs.push(d);
    return d.dir;
  };
  afterAll(() => {
    for (const d of dirs) d.remove();
  });
  const dual = (dir: string) => netConf(dir, { ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/120' }]] }, { cniVersion: '1.1.0' });
  /** The calls a node makes in a day, in one order, each answered with exit 0: their replies. */
  const day = (bin: string, dir: string): string[] => {
    const conf = dual(dir);
    const calls: CniCall[] = [
      { command: 'ADD', containerID: 'web-0', args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0' },
      { command: 'ADD', containerID: 'web-1' },
      { command: 'ADD', containerID: 'db-0', args: 'IP=10.88.0.50' },
      { command: 'DEL', containerID: 'web-1' },
      { command: 'ADD', containerID: 'web-2' },
      { command: 'GC', stdin: { ...conf, 'cni.dev/valid-attachments': ['web-0', 'db-0', 'web-2'].map((containerID) => ({ containerID, ifname: 'eth0' })) } },
    ];
    return calls.map((c) => {
      const r = runCni({ stdin: conf, ...c, bin });
      if (r.code !== 0) throw new Error(`${bin}: ${c.command} ${c.containerID ?? ''} exited ${r.code}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    });
  };
  // A fixture for the tests below: the same day on each architecture, each in a data dir of its own.
  const days = new Map<string, { dir: string; replies: string[] }>();
  beforeAll(() => {
    for (const bin of [AMD64, ARM]) {
      const dir = fresh();
      days.set(bin, { dir, replies: day(bin, dir) });
    }
  }, 180_000);

  it('is an aarch64 executable on Node 24 whose start-up code cache V8 takes', () => {
    expect(spawnSync('file', ['-b', ARM64], { encoding: 'utf8' }).stdout).toMatch(/^ELF 64-bit LSB executable, ARM aarch64/);
    const v = cli(['--version'], undefined, ARM);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`runtime Node ${cli(['--version'], undefined, AMD64).stdout.match(/Node (v[\d.]+)/)![1]}, start-up code cache in use`);
  });

  it('the same calls give the same replies and write the same bytes on amd64 and arm64', () => {
    const [a, b] = [days.get(AMD64)!, days.get(ARM)!];
    expect(b.replies).toEqual(a.replies);
    expect(bytes(b.dir)).toEqual(bytes(a.dir));
    expectConsistent(a.dir, 'testnet');
  });

  it("each architecture carries on from the other's data dir: repeated ADD, CHECK, list, DEL", () => {
    for (const [writer, reader] of [
      [AMD64, ARM],
      [ARM, AMD64],
    ] as const) {
      const { dir, replies } = days.get(writer)!;
      const added = replies[0]!;
      const conf = dual(dir);
      const again = runCni({ command: 'ADD', containerID: 'web-0', stdin: conf, bin: reader });
      expect(again.stdout, again.stderr).toBe(added);
      expect(runCni({ command: 'CHECK', containerID: 'web-0', stdin: { ...conf, prevResult: JSON.parse(added) }, bin: reader }).code).toBe(0);
      // The same listing, but for the leases' ages, which move on between the two runs.
      const list = (bin: string) => JSON.parse(cli(['list', '--data-dir', dir, '--json'], undefined, bin).stdout, (k, v) => (k === 'ageSeconds' ? 0 : v));
      expect(list(reader)).toEqual(list(writer));
      expect(runCni({ command: 'DEL', containerID: 'db-0', stdin: conf, bin: reader }).code).toBe(0);
      expect(runCni({ command: 'ADD', containerID: 'web-3', stdin: conf, bin: reader }).code).toBe(0);
      expect(
        expectConsistent(dir, 'testnet')
          .leases.map((l) => l.containerID)
          .sort(),
      ).toEqual(['web-0', 'web-2', 'web-3']);
    }
  });

  it('npm run package makes an arm64 .deb holding this executable', () => {
    const out = mkdtempSync(join(tmpdir(), 'lh-arm64-deb-'));
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'package.mjs'), out, '--arch', 'arm64'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const deb = r.stdout.trim();
      expect(deb).toMatch(/\/leasehold_[^/]+_arm64\.deb$/);
      expect(spawnSync('dpkg-deb', ['--field', deb, 'Architecture'], { encoding: 'utf8' }).stdout.trim()).toBe('arm64');
      const root = join(out, 'root');
      expect(spawnSync('dpkg-deb', ['-x', deb, root]).status).toBe(0);
      const installed = join(root, 'opt', 'cni', 'bin', 'leasehold');
      expect(spawnSync('file', ['-b', installed], { encoding: 'utf8' }).stdout).toMatch(/ARM aarch64/);
      expect(sha256(installed)).toBe(sha256(ARM64));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
