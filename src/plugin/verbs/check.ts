import { setContains } from '../../allocator/allocate.js';
import { CniError, Code } from '../../base/errors.js';
import { sameAttachment } from '../../base/ids.js';
import { canonicalIp, parseIp } from '../../net/ip.js';
import { type Outcome, type VerbRequest, withPluginSession } from '../verb.js';

export const check = (req: VerbRequest): Promise<Outcome> =>
  withPluginSession(req, async (s) => {
    const { conf, att } = req;
    const who = `container ${att.containerID} interface ${att.ifname}`;
    const lease = await s.getLease(att);
    if (!lease) throw new CniError(Code.ContainerUnknown, `${who} holds no lease in network ${conf.name}; it was never added or has been deleted`);
    for (const a of lease.addresses) {
      if (!sameAttachment(await s.claimHolder(a), lease)) {
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
      const ours = conf.rangeSets.some((set) => setContains(set, parseIp(address)));
      if (ours && !lease.addresses.includes(address)) {
        throw new CniError(Code.CheckMismatch, `prevResult gives ${who} the address ${address}, but its lease holds ${lease.addresses.join(', ')}`);
      }
    }
    return { addresses: lease.addresses, lockWaitMs: s.lockWaitMs };
  });
