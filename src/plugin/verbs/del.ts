import { isoTime } from '../../base/proc.js';
import type { NetConf } from '../../config/load.js';
import type { ReleasePolicy } from '../../store/hold.js';
import { type Outcome, type VerbRequest, withPluginSession } from '../verb.js';

/** What the config says a DEL leaves behind: a hold for the pod (ipam.sticky) or cooldowns. */
export function releasePolicy(conf: NetConf, at = Date.now()): ReleasePolicy {
  return {
    now: isoTime(at),
    ...(conf.holdSeconds !== undefined && { holdUntil: isoTime(at + conf.holdSeconds * 1000) }),
    ...(conf.cooldownSeconds > 0 && { coolUntil: isoTime(at + conf.cooldownSeconds * 1000) }),
  };
}

/** Frees every address of the attachment, configured range or not. Unknown attachments are not an error. */
export const del = (req: VerbRequest): Promise<Outcome> =>
  withPluginSession(req, async (s) => ({ addresses: await s.release(req.att, releasePolicy(req.conf)), lockWaitMs: s.lockWaitMs }), { release: true });
