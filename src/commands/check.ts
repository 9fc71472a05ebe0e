import { setContains } from '../allocator/allocate.js';
import { CniError, Code } from '../cni/errors.js';
import type { NetConf } from '../config/load.js';
import { canonicalIp, parseIp } from '../net/ip.js';
import { NetworkStore } from '../store/network-store.js';
import type { Attachment, Outcome } from './outcome.js';

export function check(conf: NetConf, att: Attachment): Outcome {
  const store = NetworkStore.open(conf.dataDir, conf.name, conf.lockTimeoutMs);
  try {
    const who = `container ${att.containerId} interface ${att.ifname}`;
    const lease = store.getLease(att.containerId, att.ifname);
    if (!lease) throw new CniError(Code.ContainerUnknown, `${who} holds no lease in network ${conf.name}; it was never added or has been deleted`);
    for (const a of lease.addresses) {
      if (!store.claimIsOurs(a, lease)) {
        throw new CniError(Code.CheckMismatch, `lease of ${who} lists ${a}, but that address is not claimed for it; DEL and ADD the container again`);
      }
    }
    for (const cidr of conf.prevResultAddresses ?? []) {
      let address: string;
      try {
        address = canonicalIp(cidr);
      } catch {
        throw new CniError(Code.DecodeFailure, `prevResult address ${JSON.stringify(cidr).slice(0, 80)} is not an address`);
      }
      const ours = conf.rangeSets.some((s) => setContains(s, parseIp(address)));
      if (ours && !lease.addresses.includes(address)) {
        throw new CniError(Code.CheckMismatch, `prevResult gives ${who} the address ${address}, but its lease holds ${lease.addresses.join(', ')}`);
      }
    }
    return { addresses: lease.addresses, lockWaitMs: store.lockWaitMs };
  } finally {
    store.close();
  }
}
