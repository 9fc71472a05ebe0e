// deploy/systemd: the gc timer and its service as the Debian package installs them, checked by systemd's own
// parser (systemd-analyze verify) in a throwaway root holding the units, the executable the service runs and
// the targets they refer to.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { assertIpamPluginPresent, makeTempDir, REPO, removeDir, run } from './helpers.js';

const UNITS = ['leasehold-gc.service', 'leasehold-gc.timer'];
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const HOST_UNITS = '/usr/lib/systemd/system';

describe('deploy/systemd: leasehold-gc.timer and leasehold-gc.service', () => {
  let root = '';

  beforeAll(() => {
    root = makeTempDir('lh-systemd');
    const units = join(root, 'lib', 'systemd', 'system');
    mkdirSync(units, { recursive: true });
    for (const u of UNITS) copyFileSync(join(REPO, 'deploy', 'systemd', u), join(units, u));
    mkdirSync(join(root, 'opt', 'cni', 'bin'), { recursive: true });
    copyFileSync(assertIpamPluginPresent(), join(root, 'opt', 'cni', 'bin', 'leasehold'));
    // The targets every unit depends on by default (sysinit.target, timers.target, ...), from systemd itself.
    mkdirSync(join(root, HOST_UNITS), { recursive: true });
    for (const t of readdirSync(HOST_UNITS).filter((f) => f.endsWith('.target'))) copyFileSync(join(HOST_UNITS, t), join(root, HOST_UNITS, t));
  });

  afterAll(() => removeDir(root));

  const verify = (unit: string) => run(SYSTEMD_ANALYZE, ['verify', `--root=${root}`, `/lib/systemd/system/${unit}`]);

  test('systemd-analyze verify finds nothing to say about either unit', async () => {
    for (const u of UNITS) {
      const r = await verify(u);
      expect([r.code, r.stdout + r.stderr], u).toEqual([0, '']);
    }
  });

  test('and it would: a misspelt key and a missing executable are reported', async () => {
    const timer = join(root, 'lib', 'systemd', 'system', 'leasehold-gc.timer');
    const good = readFileSync(timer, 'utf8');
    try {
      writeFileSync(timer, good.replace('OnUnitActiveSec=', 'OnUnitActiveSecs='));
      expect((await verify('leasehold-gc.timer')).stderr).toContain("Unknown key 'OnUnitActiveSecs'");
    } finally {
      writeFileSync(timer, good);
    }
    removeDir(join(root, 'opt'));
    expect((await verify('leasehold-gc.service')).stderr).toContain('/opt/cni/bin/leasehold is not executable');
  });

  test('the timer runs the service every 10 minutes, and the service runs leasehold gc --cri once', () => {
    const timer = readFileSync(join(REPO, 'deploy', 'systemd', 'leasehold-gc.timer'), 'utf8');
    const service = readFileSync(join(REPO, 'deploy', 'systemd', 'leasehold-gc.service'), 'utf8');
    expect(timer).toMatch(/^OnUnitActiveSec=10min$/m);
    expect(timer).toMatch(/^WantedBy=timers\.target$/m);
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(service).toMatch(/^ExecStart=\/opt\/cni\/bin\/leasehold gc --cri$/m);
  });
});
