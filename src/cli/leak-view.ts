// The leak rule's verdict on a network snapshot as check, gc and release see it: what this node may judge, the
// facts the rule gets, and each leak as a finding (only freeable ones carry what gc frees).
import { type Leak, findLeaks } from '../allocator/leaks.js';
import { judgeablePart } from '../store/store.js';
import { compareAddresses } from './address-order.js';
import type { Facts } from './context.js';
import { type Finding, type FindingKind, finding, who } from './finding.js';
import type { NetworkSnapshot } from './snapshot.js';

/** Leases before claims, each by address: the order check and gc report in. */
export function byLeak(a: Leak, b: Leak): number {
  const first = (l: Leak): string | undefined => l.lease?.addresses[0] ?? l.address;
  return Number(!a.lease) - Number(!b.lease) || compareAddresses(first(a), first(b));
}

/** The facts the leak rule gets for a snapshot: this boot, live netns, and whether leasehold has written here. */
export const leakFacts = (snap: NetworkSnapshot, facts: Facts): Facts => ({ ...facts, imported: snap.state.status !== 'missing' });

/** Leaks as the leak rule judges them; only those it calls freeable carry `leak` (what gc frees). */
export function leaks(snap: NetworkSnapshot, facts: Facts): Finding[] {
  const { leases, claims } = judgeablePart(snap);
  const found = findLeaks(leases, claims, leakFacts(snap, facts)).sort(byLeak);
  return found.map((leak): Finding => {
    const base = { network: snap.network, ...(leak.freeable ? { leak } : {}) };
    if (leak.lease) {
      const l = leak.lease;
      const detail =
        leak.reason === 'stale-boot'
          ? `lease of ${who(l)} (${l.addresses.join(', ')}) is from an earlier boot (${l.bootId})`
          : `lease of ${who(l)} (${l.addresses.join(', ')}): netns ${l.netns} no longer exists`;
      return finding({ ...base, kind: leak.reason as FindingKind, detail, containerID: l.containerID, ifname: l.ifname, addresses: l.addresses });
    }
    const address = leak.address!;
    const held = leak.holder ? ` (held for ${who(leak.holder)})` : '';
    const claim = { ...base, addresses: [address], ...leak.holder };
    if (leak.reason === 'not-imported') {
      return finding({ ...claim, kind: 'not-imported', detail: `host-local reservation ${address}${held} is not imported yet (leasehold import-host-local)` });
    }
    return leak.freeable
      ? finding({ ...claim, kind: 'orphan-claim', detail: `claim ${address}${held} has no lease record and predates this boot` })
      : finding({
          ...claim,
          kind: 'orphan-claim',
          detail: `claim ${address}${held} has no lease record; written in this boot, so gc keeps it: leasehold release ${address} --force once its holder is gone`,
        });
  });
}
