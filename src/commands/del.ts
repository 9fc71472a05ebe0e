import type { NetConf } from '../config/load.js';
import { NetworkStore } from '../store/network-store.js';
import type { Attachment, Outcome } from './outcome.js';

/** Frees every address of the attachment, configured range or not. Unknown attachments are not an error. */
export function del(conf: NetConf, att: Attachment): Outcome {
  const store = NetworkStore.open(conf.dataDir, conf.name, conf.lockTimeoutMs);
  try {
    const lease = store.getLease(att.containerId, att.ifname);
    const addresses = lease ? store.deleteLease(lease) : [];
    return { addresses, lockWaitMs: store.lockWaitMs };
  } finally {
    store.close();
  }
}
