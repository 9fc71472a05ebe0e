import { hasFreeAddress } from '../../allocator/allocate.js';
import { ReuseRules, describeHeld } from '../../allocator/reuse.js';
import { isoTime, nowMs } from '../../base/proc.js';
import { CniError, Code } from '../../base/errors.js';
import type { ClusterConf } from '../../config/cluster.js';
import { describeRange } from '../../net/range.js';
import { cursorIps } from '../../store/state.js';
import { unreadableError } from '../../store/store.js';
import type { Outcome, VerbRequest } from '../verb.js';

/**
 * How long STATUS waits on etcd in all, whatever ipam.cluster.timeoutMs says: containerd >= 2.0.1 runs STATUS
 * about every 5 s, for each network in turn, with no timeout of its own.
 */
const CLUSTER_STATUS_TIMEOUT_MS = 2000;

/**
 * When STATUS's calls to etcd must be over: a deadline of the etcd client, given where the store is built
 * (plugin/dispatch.ts), not a timer here, which the addon's blocking calls would hold off.
 */
export const statusDeadline = (cluster: ClusterConf): number => nowMs() + Math.min(CLUSTER_STATUS_TIMEOUT_MS, cluster.timeoutMs);

/**
 * STATUS: ready while ADD could be served. Reads only, without the lock; never writes (in cluster mode the addon
 * for its sockets is mapped from an unnamed file in the data dir, which leaves nothing). On a node's disk every
 * failure is this node's own (its range full, its data dir unusable): code 50, and kubelet marks the node
 * NotReady. In cluster mode only this node's own failures (a credential or certificate file it cannot read)
 * fail STATUS by default: etcd unreachable or the shared pool full is the whole cluster's condition, and
 * failing it would mark every node NotReady at once, then evict their pods (docs/cluster.md). With
 * ipam.cluster.statusScope "cluster" those fail STATUS too.
 */
export async function status(req: VerbRequest): Promise<Outcome> {
  const cluster = req.conf.cluster;
  try {
    // This node's own part of cluster mode: the TLS and password files it reads, before anything is asked of etcd.
    req.store.checkAccess?.();
  } catch (e) {
    throw notAvailable(e);
  }
  try {
    await readiness(req);
    return {};
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    // Whatever etcd answers or fails to answer is the cluster's: a node cannot tell whether the others see the same.
    if (cluster?.statusScope === 'node') {
      process.stderr.write(`leasehold: STATUS is ready although ${e.message} (a condition of the whole cluster; ipam.cluster.statusScope is "node")\n`);
      return {};
    }
    throw notAvailable(e);
  }
}

function notAvailable(e: unknown): unknown {
  if (!(e instanceof CniError)) return e;
  return e.code === Code.PluginNotAvailable ? e : new CniError(Code.PluginNotAvailable, `cannot serve ADD: ${e.message}`, e.details);
}

async function readiness({ conf, store }: VerbRequest): Promise<Outcome> {
  await store.checkWritable?.(conf.name);
  const reader = store.readUnlocked(conf.name);
  const st = await reader.state();
  if (st.status === 'unreadable') {
    throw unreadableError(st.path, st.why);
  }
  const cursors = st.status === 'ok' ? st.value.cursors : {};
  const at = cursorIps(cursors, conf.rangeSets.length);
  const { holds, cooling } = await reader.reuse();
  const reuse = { now: isoTime(), holds, cooling };
  const view = await reader.view({ rangeSets: conf.rangeSets, exclude: conf.exclude, cursors: at, requested: [], alreadyLeased: [], reuse });
  conf.rangeSets.forEach((set, i) => {
    if (!hasFreeAddress(set, conf.exclude, at[i], view, reuse)) {
      const where = `range set ${set.map(describeRange).join(', ')}${conf.cluster ? ` of the shared pool ${conf.cluster.pool}` : ''}`;
      throw new CniError(
        Code.PluginNotAvailable,
        `no free address in ${where}${describeHeld(new ReuseRules(reuse).heldIn(set))}; new containers cannot start until leases are freed (leasehold gc)`,
      );
    }
  });
  return {};
}
