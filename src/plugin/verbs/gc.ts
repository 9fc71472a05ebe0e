import { freeableLeaks } from '../../allocator/leaks.js';
import { CniError, Code } from '../../base/errors.js';
import { freeLeaks, readJudgeable } from '../../store/store.js';
import { type Outcome, type VerbRequest, withPluginSession } from '../verb.js';

/** CNI GC: free every lease, and every claim no record owns, whose attachment the runtime no longer lists. */
export function gc(req: VerbRequest): Promise<Outcome> {
  const valid = req.conf.validAttachments;
  if (!valid) throw new CniError(Code.InvalidConfig, 'GC needs "cni.dev/valid-attachments" in the config (an empty list frees every lease)');
  return withPluginSession(req, async (s) => {
    const { leases, unreadable, claims } = await readJudgeable(s);
    if (unreadable.length > 0) {
      // A record we cannot read may be a live container's: freeing its claims could hand its address out twice.
      throw new CniError(Code.IoFailure, `GC stopped: ${unreadable[0]!.path} is unreadable (${unreadable[0]!.why}); run leasehold check`, unreadable[0]!.path);
    }
    // The runtime's list is the only fact: a claim no record owns is kept when the runtime lists its holder.
    const leaks = freeableLeaks(leases, claims, { valid });
    return { addresses: await freeLeaks(s, leaks), lockWaitMs: s.lockWaitMs };
  });
}
