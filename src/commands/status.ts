import { hasFreeAddress } from '../allocator/allocate.js';
import { CniError, Code } from '../cni/errors.js';
import type { NetConf } from '../config/load.js';
import { parseIp } from '../net/ip.js';
import { describeRange } from '../net/range.js';
import { NetworkStore } from '../store/network-store.js';
import type { Outcome } from './outcome.js';

/** STATUS: ready while every range set can give one more address. Reads only; never writes. */
export function status(conf: NetConf): Outcome {
  const view = NetworkStore.peek(conf.dataDir, conf.name);
  conf.rangeSets.forEach((set, i) => {
    const cursorText = view.cursors[String(i)];
    const cursor = cursorText ? parseIp(cursorText) : undefined;
    if (!hasFreeAddress(set, conf.exclude, cursor, view)) {
      throw new CniError(Code.PluginNotAvailable, `no free address in range set ${set.map(describeRange).join(', ')}; new containers cannot start until leases are freed (leasehold gc)`);
    }
  });
  return {};
}
