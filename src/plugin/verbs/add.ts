import { type Allocation, type AllocationRequest, type LeaseView, allocate, setContains, spreadStart } from '../../allocator/allocate.js';
import { freeableLeaks } from '../../allocator/leaks.js';
import { type HoldKey, type ReuseFacts, isLive, ownHold } from '../../allocator/reuse.js';
import { CniError, Code } from '../../base/errors.js';
import { readBootId, readBootTimeMs } from '../../base/host.js';
import { sameAttachment } from '../../base/ids.js';
import { isoTime } from '../../base/proc.js';
import type { NetConf } from '../../config/load.js';
import { readResolvConf } from '../../config/resolv.js';
import { formatIp, parseIp } from '../../net/ip.js';
import { LEASE_FORMAT, type Lease } from '../../store/lease.js';
import { cursorIps } from '../../store/state.js';
import { ClaimConflict, type NetworkSession, freeLeaks, readJudgeable } from '../../store/store.js';
import { type IpConfig, formatResult } from '../result.js';
import { type Outcome, type VerbRequest, withPluginSession } from '../verb.js';

/** How often ADD chooses again when another writer (in cluster mode, another node) claims its pick first. */
const MAX_ATTEMPTS = 32;

/** The allocator's answer, reclaiming leases of an earlier boot once when the range is full. */
async function choose(s: NetworkSession, conf: NetConf, request: AllocationRequest, view: LeaseView, bootId: string | null): Promise<Allocation> {
  try {
    return allocate(request, view);
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    if (e.code === Code.RangeExhausted && conf.reclaimStaleBoot) {
      // A full range on a rebooted node is usually leases of containers that died with the old boot.
      const { leases, claims } = await readJudgeable(s);
      const leaks = freeableLeaks(leases, claims, { bootId, bootTimeMs: readBootTimeMs() });
      let freed = (await freeLeaks(s, leaks)).length;
      // Holds that ended keep their addresses in cluster mode (the pool's keys) until someone ends them.
      for (const h of request.reuse?.holds ?? []) if (!isLive(h, request.reuse!.now)) freed += (await s.endHold(h)).length;
      if (freed === 0) throw e;
      return allocate(request, await s.view(request));
    }
    if (e.code === Code.AddressUnavailable) {
      const taken = conf.requested.find((r) => view.isTaken(r) && !request.alreadyLeased.some((h) => h.value === r.value));
      const holder = taken && (await s.claimHolder(formatIp(taken)));
      if (holder) throw new CniError(e.code, `${e.message} (held by container ${holder.containerID}, interface ${holder.ifname})`);
    }
    throw e;
  }
}

/** The pod the ADD is for, as CNI_ARGS name it: only a named pod has holds. */
const podOf = (req: VerbRequest): HoldKey | undefined =>
  req.podName && req.podNamespace !== undefined ? { namespace: req.podNamespace, name: req.podName, ifname: req.att.ifname } : undefined;

export function add(req: VerbRequest): Promise<Outcome> {
  const { conf, att } = req;
  if (conf.requestProblem) throw conf.requestProblem;
  const dns = conf.resolvConf !== undefined ? readResolvConf(conf.resolvConf) : undefined;
  const bootId = readBootId();
  return withPluginSession(req, async (s) => {
    let reading = await s.readForAdd(att, conf.rangeSets);
    const { previous } = reading;
    // A repeated ADD gets the same addresses back; an address whose claim went to someone else is not ours.
    const leasedText: string[] = [];
    // A record whose claim is missing (its ADD was killed between the two) must be claimed again.
    let unclaimed = false;
    for (const a of previous?.addresses ?? []) {
      const holder = await s.claimHolder(a);
      if (!holder || sameAttachment(holder, previous)) leasedText.push(a);
      if (!holder) unclaimed = true;
    }
    const alreadyLeased = leasedText.map(parseIp);
    for (let attempt = 1; ; attempt++) {
      // A lost race wrote nothing, but others did: each attempt chooses from a new reading.
      if (attempt > 1) reading = await s.readForAdd(att, conf.rangeSets);
      const st = reading.state;
      const cursorText = st.status === 'ok' ? st.value.cursors : {};
      // Writers that share the range (the nodes of a cluster pool, or an ADD that just lost a race) each start
      // a little past the shared cursor, so they do not all race for the address right after it.
      const spread = attempt > 1 ? `${att.containerID}/${att.ifname}/${attempt}` : s.node;
      const shared = cursorIps(cursorText, conf.rangeSets.length);
      const starts = spread === undefined ? shared : shared.map((c, i) => spreadStart(conf.rangeSets[i]!, c, spread));
      const { holds, cooling } = reading.reuse;
      const reuse: ReuseFacts = { now: isoTime(), pod: podOf(req), holds, cooling };
      const request = { rangeSets: conf.rangeSets, exclude: conf.exclude, cursors: starts, requested: conf.requested, alreadyLeased, reuse };
      const alloc = await choose(s, conf, request, await reading.view(request), bootId);
      const picked = alloc.picks.map((p) => formatIp(p.ip));
      // Addresses held from a range that is no longer configured stay recorded, so DEL still frees them.
      const kept = (previous?.addresses ?? []).filter((a) => !picked.includes(a) && !conf.rangeSets.some((set) => setContains(set, parseIp(a))));
      const lease: Lease = {
        format: LEASE_FORMAT,
        containerID: att.containerID,
        ifname: att.ifname,
        addresses: [...picked, ...kept],
        ...(req.podNamespace !== undefined ? { podNamespace: req.podNamespace } : {}),
        ...(req.podName !== undefined ? { podName: req.podName } : {}),
        ...(req.podUid !== undefined ? { podUid: req.podUid } : {}),
        netns: req.netns,
        createdAt: previous?.createdAt ?? isoTime(),
        bootId: previous ? previous.bootId : bootId,
      };
      const cursors = { ...cursorText };
      alloc.cursors.forEach((c, i) => {
        if (c) cursors[String(i)] = formatIp(c);
      });
      const changed = !previous || unclaimed || alloc.picks.some((p) => p.isNew) || lease.addresses.length !== previous.addresses.length;
      // The pod is back: its hold ends, whether its addresses came back or it asked for others.
      const ending = ownHold(reuse);
      try {
        if (changed) await s.putLease(lease, previous, cursors, ending);
        else if (ending) await s.endHold(ending);
      } catch (e) {
        const asked = conf.requested.some((r) => formatIp(r) === (e as ClaimConflict).address);
        if (e instanceof ClaimConflict && !asked && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
      const ips: IpConfig[] = alloc.picks.map((p) => ({
        family: p.range.family,
        address: `${formatIp(p.ip)}/${p.range.subnet.prefix}`,
        gateway: formatIp({ family: p.range.family, value: p.range.gateway }),
      }));
      return { output: formatResult(conf.cniVersion, { ips, routes: conf.routes, dns }), addresses: picked, lockWaitMs: s.lockWaitMs };
    }
  });
}
