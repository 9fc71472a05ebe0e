import { type Outcome, type VerbRequest, withNetwork } from '../verb.js';

/** Frees every address of the attachment, configured range or not. Unknown attachments are not an error. */
export const del = (req: VerbRequest): Promise<Outcome> =>
  withNetwork(req, async (s) => ({ addresses: await s.release(req.att), lockWaitMs: s.lockWaitMs }), { release: true });
