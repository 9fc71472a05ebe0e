// ipam.sticky and the pod annotation leasehold.io/ips on the path every Kubernetes pod takes: kubelet's CRI calls
// to containerd 1.6's CRI service, which passes the pod's annotations to the network's plugins through the
// capability io.kubernetes.cri.pod-annotations (declared by bridge in conf.d/70-statefulset-sticky.conflist).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Lease } from '../../src/store/lease.js';
import { type CriNode, inPod, newPod, startCriNode, stopCriNode } from './cri.js';
import { assertIpamPluginPresent, canonicalIp, describeRun, dumpLeaseDir, isRoot, loadConfList } from './helpers.js';

const HOOK_TIMEOUT = 120_000;
const STEP_TIMEOUT = 90_000;
const conflist = loadConfList('70-statefulset-sticky.conflist');
const NETWORK = conflist.name;

describe.skipIf(!isRoot)('containerd 1.6 CRI with 70-statefulset-sticky: the annotation and a StatefulSet-style recreate', () => {
  let node: CriNode;
  const lease = (id: string): Lease => JSON.parse(readFileSync(join(node.dataDir, NETWORK, 'leases', `${id}@eth0.json`), 'utf8')) as Lease;

  beforeAll(async () => {
    node = await startCriNode('lh-e2e-cri-sticky', { plugin: assertIpamPluginPresent(), conflists: { '10-statefulset.conflist': conflist } });
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    if (node) await stopCriNode(node);
  }, HOOK_TIMEOUT);

  test(
    'a pod annotated with leasehold.io/ips gets that address; deleted and recreated under its name (new uid, new sandbox, no annotation) it gets it back',
    async () => {
      const first = newPod('pg-0', 'db');
      const id1 = await node.cri.runPod(first, { logDir: node.logDir, annotations: { 'leasehold.io/ips': '10.245.1.77' } });
      expect(canonicalIp((await node.cri.status(id1)).network!.ip), dumpLeaseDir(node.dataDir, NETWORK)).toBe('10.245.1.77');
      const peer = newPod('pg-1', 'db');
      const idPeer = await node.cri.runPod(peer, { logDir: node.logDir });
      expect(canonicalIp((await node.cri.status(idPeer)).network!.ip)).not.toBe('10.245.1.77');

      // The StatefulSet controller deletes pg-0: kubelet stops and removes its sandbox; the address is held.
      await node.cri.stop(id1);
      await node.cri.remove(id1);
      expect(readdirSync(join(node.dataDir, NETWORK, 'holds'))).toEqual(['db@pg-0@eth0.json']);
      // Another pod meanwhile does not get it.
      const other = newPod('web-0', 'db');
      const idOther = await node.cri.runPod(other, { logDir: node.logDir });
      expect(canonicalIp((await node.cri.status(idOther)).network!.ip)).not.toBe('10.245.1.77');

      // pg-0 comes back: a new uid and sandbox, this time without the annotation.
      const again = newPod('pg-0', 'db');
      const id2 = await node.cri.runPod(again, { logDir: node.logDir });
      expect(canonicalIp((await node.cri.status(id2)).network!.ip), dumpLeaseDir(node.dataDir, NETWORK)).toBe('10.245.1.77');
      expect(lease(id2)).toMatchObject({ podNamespace: 'db', podName: 'pg-0', podUid: again.uid, addresses: ['10.245.1.77'] });
      expect(readdirSync(join(node.dataDir, NETWORK, 'holds'))).toEqual([]);
      const r = await inPod(node, lease(idPeer).netns, 'ping', ['-c1', '-W2', '10.245.1.77']);
      expect(r.code, describeRun(r)).toBe(0);

      for (const id of [id2, idPeer, idOther]) {
        await node.cri.stop(id);
        await node.cri.remove(id);
      }
    },
    STEP_TIMEOUT,
  );
});
