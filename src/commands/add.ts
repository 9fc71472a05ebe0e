import { allocate, setContains } from '../allocator/allocate.js';
import { claimsFromEarlierBoot, findLeaks, orphanClaims } from '../allocator/leaks.js';
import { CniError, Code } from '../cni/errors.js';
import { type IpConfig, formatResult } from '../cni/result.js';
import type { NetConf } from '../config/load.js';
import { readResolvConf } from '../config/resolv.js';
import { type Ip, formatIp, parseIp } from '../net/ip.js';
import { LEASE_FORMAT, type Lease, readBootId, readBootTimeMs } from '../store/lease.js';
import { NetworkStore } from '../store/network-store.js';
import type { Attachment, Outcome } from './outcome.js';
import { releaseLeaks } from './release.js';

function cursorsOf(store: NetworkStore, conf: NetConf): Array<Ip | undefined> {
  return conf.rangeSets.map((_, i) => {
    const text = store.state.cursors[String(i)];
    try {
      return text ? parseIp(text) : undefined;
    } catch {
      return undefined;
    }
  });
}

export function add(conf: NetConf, att: Attachment): Outcome {
  const dns = conf.resolvConf !== undefined ? readResolvConf(conf.resolvConf) : undefined;
  const bootId = readBootId();
  const store = NetworkStore.open(conf.dataDir, conf.name, conf.lockTimeoutMs);
  try {
    const previous = store.getLease(att.containerId, att.ifname);
    // A repeated ADD gets the same addresses back; an address whose claim went to someone else is not ours.
    const held = (previous?.addresses ?? []).filter((a) => store.claimIsOurs(a, previous!) || !store.claimHolder(a)).map(parseIp);
    const request = { rangeSets: conf.rangeSets, exclude: conf.exclude, cursors: cursorsOf(store, conf), requested: conf.requested, held };
    let alloc;
    try {
      alloc = allocate(request, store);
    } catch (e) {
      if (!(e instanceof CniError)) throw e;
      if (e.code === Code.RangeExhausted && conf.reclaimStaleBoot) {
        // A full range on a rebooted node is usually leases of containers that died with the old boot.
        const { leases } = store.listLeases();
        const leaks = [...findLeaks(leases, [], { bootId }), ...orphanClaims(leases, claimsFromEarlierBoot(store.listClaims(), readBootTimeMs()))];
        if (releaseLeaks(store, leaks).length === 0) throw e;
        alloc = allocate(request, store);
      } else if (e.code === Code.AddressUnavailable) {
        const taken = conf.requested.find((r) => store.isTaken(r) && !held.some((h) => h.value === r.value));
        const holder = taken && store.claimHolder(formatIp(taken));
        if (holder) throw new CniError(e.code, `${e.message} (held by container ${holder.containerID}, interface ${holder.ifname})`);
        throw e;
      } else throw e;
    }

    const picked = alloc.picks.map((p) => formatIp(p.ip));
    // Addresses held from a range that is no longer configured stay recorded, so DEL still frees them.
    const kept = (previous?.addresses ?? []).filter((a) => !picked.includes(a) && !conf.rangeSets.some((s) => setContains(s, parseIp(a))));
    const lease: Lease = {
      format: LEASE_FORMAT,
      containerID: att.containerId,
      ifname: att.ifname,
      addresses: [...picked, ...kept],
      ...(att.podNamespace !== undefined ? { podNamespace: att.podNamespace } : {}),
      ...(att.podName !== undefined ? { podName: att.podName } : {}),
      netns: att.netns,
      createdAt: previous?.createdAt ?? new Date().toISOString(),
      bootId: previous ? previous.bootId : bootId,
    };
    const cursors = { ...store.state.cursors };
    alloc.cursors.forEach((c, i) => {
      if (c) cursors[String(i)] = formatIp(c);
    });
    const changed = !previous || alloc.picks.some((p) => p.fresh) || lease.addresses.length !== previous.addresses.length;
    if (changed) store.putLease(lease, previous, { ...store.state, cursors });

    const ips: IpConfig[] = alloc.picks.map((p) => ({
      family: p.range.family,
      address: `${formatIp(p.ip)}/${p.range.subnet.prefix}`,
      gateway: formatIp({ family: p.range.family, value: p.range.gateway }),
    }));
    return { output: formatResult(conf.cniVersion, { ips, routes: conf.routes, dns }), addresses: picked, lockWaitMs: store.lockWaitMs };
  } finally {
    store.close();
  }
}
