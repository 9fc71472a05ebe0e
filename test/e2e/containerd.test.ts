// End-to-end with containerd 1.6, the runtime under kubelet on most Kubernetes nodes: `ctr run --cni` on a
// bridge -> leasehold network (conf.d/10-pods-bridge.conflist), against a private containerd started here.
// See containerd.ts for how the daemon and ctr's fixed CNI paths are kept off the host.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  assertIpamPluginPresent,
  describeRun,
  DIST_DIR,
  dumpLeaseDir,
  filesMentioning,
  isRoot,
  NOT_ROOT_REASON,
  pingEachOther,
  pollUntil,
  randSuffix,
} from './helpers.js';
import {
  BB_IMAGE,
  containerdFixture,
  CTR_NAMESPACE,
  ctr,
  ctrInSandbox,
  ctrOk,
  leaseholdCli,
  leaseRecord,
  runAttached,
  snapshotHostCniPaths,
  taskEth0,
  taskPid,
  type ContainerdFixture,
} from './containerd.js';

const HOOK_TIMEOUT = 120_000;
const STEP_TIMEOUT = 60_000;
const SUBNET_PREFIX = '10.244.88.';

describe.skipIf(!isRoot)('containerd 1.6: ctr run --cni with bridge -> leasehold', () => {
  let fx: ContainerdFixture | undefined;
  let hostBefore = '';
  const ids = [`c1-${randSuffix(2)}`, `c2-${randSuffix(2)}`];
  const cniIds = ids.map((id) => `${CTR_NAMESPACE}-${id}`); // go-cni's CNI_CONTAINERID
  const ips: string[] = [];

  beforeAll(async () => {
    const bin = assertIpamPluginPresent();
    hostBefore = snapshotHostCniPaths();
    fx = await containerdFixture('lh-e2e-ctrd', `${SUBNET_PREFIX}0/24`, { file: bin });
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await fx?.cleanup();
    expect(snapshotHostCniPaths(), "the host's CNI folders changed").toBe(hostBefore);
  }, HOOK_TIMEOUT);

  test(
    "each detached container's eth0 carries its lease, which records containerd's id and netns",
    async () => {
      const { cd, sb, dataDir, network } = fx!;
      for (const id of ids) {
        const r = await ctrInSandbox(cd, sb, ['run', '-d', '--cni', BB_IMAGE, id, 'sleep', '600']);
        expect(r.code, `${describeRun(r)}\n${dumpLeaseDir(dataDir, network)}`).toBe(0);
      }
      for (let i = 0; i < ids.length; i++) {
        const { ip, prefix } = await taskEth0(cd, ids[i]!);
        ips.push(ip);
        expect(ip.startsWith(SUBNET_PREFIX)).toBe(true);
        expect(prefix).toBe(24);
        const lease = leaseRecord(dataDir, network, cniIds[i]!);
        expect(lease, `no lease for ${cniIds[i]}\n${dumpLeaseDir(dataDir, network)}`).toBeDefined();
        expect(lease!.addresses).toEqual([ip]);
        expect(lease!.containerID).toBe(cniIds[i]);
        expect(lease!.ifname).toBe('eth0');
        expect(lease!.netns).toBe(`/proc/${await taskPid(cd, ids[i]!)}/ns/net`);
      }
      expect(ips[0]).not.toBe(ips[1]);
    },
    STEP_TIMEOUT,
  );

  test(
    'the two containers ping each other',
    async () => {
      expect(ips, 'previous step failed').toHaveLength(2);
      await pingEachOther([ids[0]!, ids[1]!], ips, (from, to) =>
        ctr(fx!.cd, ['tasks', 'exec', '--exec-id', `ping-${randSuffix(2)}`, from, 'ping', '-c1', '-W2', to]),
      );
    },
    STEP_TIMEOUT,
  );

  test(
    "an attached container's lease is freed by containerd's DEL when its task exits",
    async () => {
      const { run, eth0, during, left } = await runAttached(fx!, `c3-${randSuffix(2)}`);
      expect(run.code, describeRun(run)).toBe(0);
      expect(during, `no lease seen while the task ran\n${describeRun(run)}`).toBeDefined();
      expect([eth0], describeRun(run)).toEqual(during!.addresses);
      expect(left, `files naming the container after DEL\n${dumpLeaseDir(fx!.dataDir, fx!.network)}`).toEqual([]);
    },
    STEP_TIMEOUT,
  );

  test(
    'a killed detached container (no DEL) is found by `leasehold check` as netns-gone and freed by `leasehold gc`',
    async () => {
      expect(ips, 'first step failed').toHaveLength(2);
      const { cd, dataDir, network } = fx!;
      const bin = join(DIST_DIR, 'leasehold');
      const pid = await taskPid(cd, ids[0]!);
      await ctrOk(cd, ['tasks', 'kill', '-s', 'SIGKILL', ids[0]!]);
      await pollUntil(
        () => existsSync(`/proc/${pid}/ns/net`),
        (e) => !e,
        10_000,
      );

      const opts = ['--data-dir', dataDir, '--network', network];
      const check = await leaseholdCli(bin, ['check', ...opts]);
      expect(check.code, check.raw).toBe(1);
      expect(
        check.json.findings.map((f: any) => [f.kind, f.containerID, f.addresses, f.freeable]),
        check.raw,
      ).toEqual([['netns-gone', cniIds[0], [ips[0]], true]]);

      const gc = await leaseholdCli(bin, ['gc', ...opts]);
      expect(gc.code, gc.raw).toBe(0);
      expect(
        gc.json.freed.map((f: any) => [f.reason, f.containerID, f.addresses]),
        gc.raw,
      ).toEqual([['netns-gone', cniIds[0], [ips[0]]]]);
      expect(filesMentioning(dataDir, network, cniIds[0]!), dumpLeaseDir(dataDir, network)).toEqual([]);
      expect(leaseRecord(dataDir, network, cniIds[1]!)?.addresses, 'the live container keeps its lease').toEqual([ips[1]]);
      const after = await leaseholdCli(bin, ['check', ...opts]);
      expect(after.code, after.raw).toBe(0);
    },
    STEP_TIMEOUT,
  );
});

if (!isRoot) {
  describe('containerd e2e', () => {
    test.skip(NOT_ROOT_REASON, () => {});
  });
}
