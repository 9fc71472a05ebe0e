// The path every Kubernetes pod takes: kubelet's CRI calls (RunPodSandbox, StopPodSandbox, RemovePodSandbox) to
// containerd 1.6's CRI service, which runs bridge -> leasehold through go-cni, as on a node. And `leasehold gc
// --cri`, the exact command leasehold-gc.service runs, against that containerd. See cri.ts for the node.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Lease } from '../../src/store/lease.js';
import {
  assertIpamPluginPresent,
  canonicalIp,
  describeRun,
  dumpLeaseDir,
  filesMentioning,
  isRoot,
  loadConfList,
  NOT_ROOT_REASON,
  REPO,
  randSuffix,
} from './helpers.js';
import {
  type CriNode,
  inPod,
  newPod,
  onNode,
  type PodMeta,
  type SandboxStatus,
  startCriNode,
  startNodeContainerd,
  stopCriNode,
  stopNodeContainerd,
} from './cri.js';

const HOOK_TIMEOUT = 120_000;
const STEP_TIMEOUT = 60_000;
const conflist = loadConfList('20-dualstack-bridge.conflist'); // bridge -> leasehold, one IPv4 and one IPv6 range set
const NETWORK = conflist.name;

type LeaseFile = Lease;

/** The timer's command line, from the unit the Debian package installs. */
const TIMER_COMMAND = /^ExecStart=(.+)$/m.exec(readFileSync(join(REPO, 'deploy', 'systemd', 'leasehold-gc.service'), 'utf8'))![1]!.split(/\s+/);

describe.skipIf(!isRoot)('containerd 1.6 CRI: pods as kubelet starts and stops them, bridge -> leasehold', () => {
  let node: CriNode;
  const pods = new Map<string, { pod: PodMeta; id: string }>();

  const leaseFile = (id: string): string => join(node.dataDir, NETWORK, 'leases', `${id}@eth0.json`);
  const lease = (id: string): LeaseFile | undefined => {
    try {
      return JSON.parse(readFileSync(leaseFile(id), 'utf8')) as LeaseFile;
    } catch {
      return undefined;
    }
  };
  const statusIps = (s: SandboxStatus): string[] => [s.network!.ip, ...s.network!.additionalIps.map((a) => a.ip)].map(canonicalIp);
  const leftFor = (id: string): string[] => filesMentioning(node.dataDir, NETWORK, id);
  const dump = (): string => dumpLeaseDir(node.dataDir, NETWORK);
  /** Moves a lease's createdAt back, as if it had been made that long ago. */
  const age = (id: string, ms: number): void => {
    const l = lease(id)!;
    writeFileSync(leaseFile(id), `${JSON.stringify({ ...l, createdAt: new Date(Date.parse(l.createdAt) - ms).toISOString() })}\n`);
  };
  const start = async (name: string): Promise<{ pod: PodMeta; id: string }> => {
    const pod = newPod(`${name}-${randSuffix(2)}`);
    const id = await node.cri.runPod(pod, { logDir: node.logDir });
    pods.set(name, { pod, id });
    return { pod, id };
  };

  beforeAll(async () => {
    node = await startCriNode('lh-e2e-cri', { plugin: assertIpamPluginPresent(), conflists: { '10-pods.conflist': conflist } });
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    if (node) await stopCriNode(node);
  }, HOOK_TIMEOUT);

  test(
    "PodSandboxStatus's ip and additional_ips are the lease, which records the pod's namespace, name and uid",
    async () => {
      for (const name of ['a', 'b']) {
        const { pod, id } = await start(name);
        const status = await node.cri.status(id);
        expect(status.state).toBe('SANDBOX_READY');
        const l = lease(id);
        expect(l, `no lease for sandbox ${id}\n${dump()}`).toBeDefined();
        expect(statusIps(status)).toEqual(l!.addresses);
        expect(l!.addresses).toHaveLength(2);
        expect(l!.addresses[0]).toMatch(/^10\.245\.1\.\d+$/);
        expect(l!.addresses[1]).toMatch(/^fd00:10:245:1::[0-9a-f]+$/);
        expect(l).toMatchObject({ containerID: id, ifname: 'eth0', podNamespace: pod.namespace, podName: pod.name, podUid: pod.uid });
        expect(l!.netns).toMatch(/^\/var\/run\/netns\/cni-[0-9a-f-]+$/);
      }
    },
    STEP_TIMEOUT,
  );

  test(
    'the two pods ping each other',
    async () => {
      const [a, b] = ['a', 'b'].map((n) => lease(pods.get(n)!.id)!);
      expect(a && b, 'first step failed').toBeTruthy();
      for (const [from, to] of [
        [a!, b!],
        [b!, a!],
      ] as const) {
        const r = await inPod(node, from.netns, 'ping', ['-c1', '-W2', to.addresses[0]!]);
        expect(r.code, describeRun(r)).toBe(0);
      }
    },
    STEP_TIMEOUT,
  );

  test(
    '20 concurrent RunPodSandbox give 20 pods 20 distinct pairs of addresses, each its lease; stopping and removing them frees them',
    async () => {
      const batch = Array.from({ length: 20 }, (_, i) => newPod(`burst-${i}-${randSuffix(2)}`));
      const ids = await Promise.all(batch.map((pod) => node.cri.runPod(pod, { logDir: node.logDir })));
      const statuses = await Promise.all(ids.map((id) => node.cri.status(id)));
      const all = statuses.flatMap(statusIps);
      expect(new Set(all).size, all.join(' ')).toBe(40);
      ids.forEach((id, i) => {
        expect(lease(id)?.addresses, dump()).toEqual(statusIps(statuses[i]!));
        expect(lease(id)?.podUid).toBe(batch[i]!.uid);
      });
      await Promise.all(ids.map(async (id) => node.cri.stop(id).then(() => node.cri.remove(id))));
      expect(ids.flatMap(leftFor), dump()).toEqual([]);
    },
    STEP_TIMEOUT,
  );

  test(
    'StopPodSandbox frees the lease, a repeated stop succeeds, RemovePodSandbox succeeds',
    async () => {
      const { id } = pods.get('b')!;
      expect(lease(id), 'first step failed').toBeDefined();
      await node.cri.stop(id);
      expect(leftFor(id), dump()).toEqual([]);
      await node.cri.stop(id);
      await node.cri.remove(id);
      expect((await node.cri.list()).map((s) => s.id)).not.toContain(id);
      expect(leftFor(id), dump()).toEqual([]);
    },
    STEP_TIMEOUT,
  );

  test(
    'containerd restarted with a running sandbox: the sandbox keeps its lease, and a stop after the restart frees it',
    async () => {
      const { id } = pods.get('a')!;
      const before = lease(id);
      expect(before, 'first step failed').toBeDefined();
      await stopNodeContainerd(node);
      await startNodeContainerd(node);
      const status = await node.cri.status(id);
      expect(status.state).toBe('SANDBOX_READY');
      expect(statusIps(status)).toEqual(before!.addresses);
      expect(lease(id)).toEqual(before);
      await node.cri.stop(id);
      expect(leftFor(id), dump()).toEqual([]);
      await node.cri.remove(id);
    },
    STEP_TIMEOUT,
  );

  test(
    "leasehold gc --cri, the timer's command line, frees old leases of sandboxes containerd does not have, and keeps the rest",
    async () => {
      expect(TIMER_COMMAND).toEqual(['/opt/cni/bin/leasehold', 'gc', '--cri']);
      // A running pod whose lease is old: only containerd's list keeps it.
      const { id: live } = await start('live');
      age(live, 3_600_000);
      // Leases of sandboxes containerd does not have (as a force-deleted pod or a failed teardown leaves them):
      // ADDs the runtime never heard of. One is old (a leak), one is young (as an ADD in flight would be).
      const ghost = (n: number): string => `${'9'.repeat(63)}${n}`;
      for (const id of [ghost(1), ghost(2)]) {
        const r = await onNode(node, '/opt/cni/bin/leasehold', [], {
          env: {
            PATH: '/usr/bin:/bin',
            CNI_COMMAND: 'ADD',
            CNI_CONTAINERID: id,
            CNI_NETNS: '/var/run/netns/gone',
            CNI_IFNAME: 'eth0',
            CNI_PATH: '/opt/cni/bin',
          },
          input: JSON.stringify({ cniVersion: '1.0.0', name: NETWORK, type: 'bridge', ipam: conflist.plugins[0]!.ipam }),
        });
        expect(r.code, describeRun(r)).toBe(0);
      }
      age(ghost(1), 11 * 60_000);

      const dry = await onNode(node, TIMER_COMMAND[0]!, [...TIMER_COMMAND.slice(1), '--dry-run', '--json']);
      expect(dry.code, describeRun(dry)).toBe(0);
      const planned = JSON.parse(dry.stdout);
      expect(planned.runtime).toEqual({ endpoint: 'unix:///run/containerd/containerd.sock', sandboxes: 1 });
      expect(planned.freed.map((f: any) => [f.containerID, f.reason])).toEqual([[ghost(1), 'not-valid']]);
      expect(lease(ghost(1)), 'a dry run changes nothing').toBeDefined();

      const r = await onNode(node, TIMER_COMMAND[0]!, TIMER_COMMAND.slice(1));
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.stdout).toMatch(/freed 2 address\(es\) in 1 entry/);
      expect(leftFor(ghost(1)), dump()).toEqual([]);
      expect(lease(ghost(2))?.addresses, 'a lease younger than --grace is kept').toHaveLength(2);
      expect(lease(live)?.addresses, "a listed sandbox's lease is kept").toHaveLength(2);
    },
    STEP_TIMEOUT,
  );

  test(
    'with containerd down, or listing nothing while a lease is young, gc --cri frees nothing and says why',
    async () => {
      const { id: live } = pods.get('live')!;
      expect(lease(live), 'previous step failed').toBeDefined();
      await stopNodeContainerd(node);
      try {
        const down = await onNode(node, TIMER_COMMAND[0]!, [...TIMER_COMMAND.slice(1), '--grace', '0s']);
        expect(down.code, describeRun(down)).toBe(2);
        expect(down.stderr).toMatch(
          /cannot list the runtime's pod sandboxes at unix:\/\/\/run\/containerd\/containerd\.sock \((ENOENT|ECONNREFUSED)\); nothing freed/,
        );
      } finally {
        await startNodeContainerd(node);
      }
      expect(lease(live)?.addresses).toHaveLength(2);
      await node.cri.stop(live);
      await node.cri.remove(live);
      // Nothing listed now; the young ghost lease makes an empty answer no verdict.
      const empty = await onNode(node, TIMER_COMMAND[0]!, TIMER_COMMAND.slice(1));
      expect(empty.code, describeRun(empty)).toBe(2);
      expect(empty.stderr).toContain('lists no pod sandbox, but 1 lease(s) are younger than --grace');
      expect(lease(`${'9'.repeat(63)}2`)?.addresses).toHaveLength(2);
    },
    STEP_TIMEOUT,
  );
});

if (!isRoot) {
  describe('CRI e2e', () => {
    test.skip(NOT_ROOT_REASON, () => {});
  });
}
