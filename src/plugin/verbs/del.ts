import { type Outcome, type VerbRequest, withPluginSession } from '../verb.js';

/** Frees every address of the attachment, configured range or not. Unknown attachments are not an error. */
export const del = (req: VerbRequest): Promise<Outcome> =>
  withPluginSession(req, async (s) => ({ addresses: await s.release(req.att), lockWaitMs: s.lockWaitMs }), { release: true });
