import { hasFreeAddress } from '../../allocator/allocate.js';
import { ReuseRules, describeHeld } from '../../allocator/reuse.js';
import { isoTime } from '../../base/proc.js';
import { CniError, Code } from '../../base/errors.js';
import { describeRange } from '../../net/range.js';
import { cursorIps } from '../../store/state.js';
import { unreadableError } from '../../store/store.js';
import type { Outcome, VerbRequest } from '../verb.js';

/**
 * STATUS: ready while every range set can give one more address. Reads only, without the lock; never writes.
 * A store that cannot be reached right now (etcd in cluster mode) also means ADD cannot be served: code 50.
 */
export async function status(req: VerbRequest): Promise<Outcome> {
  try {
    return await readiness(req);
  } catch (e) {
    if (e instanceof CniError && e.code === Code.TryAgainLater) throw new CniError(Code.PluginNotAvailable, `cannot serve ADD: ${e.message}`, e.details);
    throw e;
  }
}

async function readiness({ conf, store }: VerbRequest): Promise<Outcome> {
  const reader = store.peek(conf.name);
  const st = await reader.state();
  if (st.status === 'unreadable') {
    throw unreadableError(st.path, st.why);
  }
  const cursors = st.status === 'ok' ? st.value.cursors : {};
  const at = cursorIps(cursors, conf.rangeSets.length);
  const { holds, cooling } = await reader.reuse();
  const reuse = { now: isoTime(), holds, cooling };
  const view = await reader.view({ rangeSets: conf.rangeSets, exclude: conf.exclude, cursors: at, requested: [], held: [], reuse });
  conf.rangeSets.forEach((set, i) => {
    if (!hasFreeAddress(set, conf.exclude, at[i], view, reuse)) {
      throw new CniError(
        Code.PluginNotAvailable,
        `no free address in range set ${set.map(describeRange).join(', ')}${describeHeld(new ReuseRules(reuse).heldIn(set))}; ` +
          'new containers cannot start until leases are freed (leasehold gc)',
      );
    }
  });
  return {};
}
