import { notValid, orphanClaims } from '../allocator/leaks.js';
import { CniError, Code } from '../cni/errors.js';
import type { NetConf } from '../config/load.js';
import { NetworkStore } from '../store/network-store.js';
import type { Outcome } from './outcome.js';
import { releaseLeaks } from './release.js';

/** CNI GC: free every lease, and every claim no record owns, whose attachment the runtime no longer lists. */
export function gc(conf: NetConf): Outcome {
  if (!conf.validAttachments) {
    throw new CniError(Code.InvalidConfig, 'GC needs "cni.dev/valid-attachments" in the config (an empty list frees every lease)');
  }
  const store = NetworkStore.open(conf.dataDir, conf.name, conf.lockTimeoutMs);
  try {
    const { leases, unreadable } = store.listLeases();
    if (unreadable.length > 0) {
      // A record we cannot read may be a live container's: freeing its claims could hand its address out twice.
      throw new CniError(Code.IoFailure, `GC stopped: ${unreadable[0]!.path} is unreadable (${unreadable[0]!.why}); run leasehold check`, unreadable[0]!.path);
    }
    // A claim no record owns is kept when the runtime lists its holder (e.g. a host-local reservation).
    const leaks = notValid(leases, conf.validAttachments, orphanClaims(leases, store.listClaims()));
    return { addresses: releaseLeaks(store, leaks), lockWaitMs: store.lockWaitMs };
  } finally {
    store.close();
  }
}
