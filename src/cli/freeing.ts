// Freeing leases and claims (release, gc) and reporting exactly what was freed, shared by both commands.
import type { Leak } from '../allocator/leaks.js';
import type { Hold } from '../allocator/reuse.js';
import { type NetworkSession, freeLeaks } from '../store/store.js';
import { out } from './context.js';
import { json, shortId, table } from './format.js';

export interface Freed {
  network: string;
  /** A whole lease record with its claims, a claim no record owns, or a deleted pod's hold. */
  kind: 'lease' | 'claim' | 'hold';
  /** Why: stale-boot, netns-gone, orphan-claim, not-valid (gc --keep-from), hold-expired, or released (leasehold release). */
  reason: string;
  containerID: string | null;
  ifname: string | null;
  addresses: string[];
}

/** What freeing the leak would free, without doing it. */
export function describeLeak(network: string, leak: Leak, reason: string = leak.reason): Freed {
  const l = leak.lease;
  return l
    ? { network, kind: 'lease', reason, containerID: l.containerID, ifname: l.ifname, addresses: [...l.addresses] }
    : { network, kind: 'claim', reason, containerID: null, ifname: null, addresses: [leak.address!] };
}

/** What ending a hold frees (its addresses, once it ended), for reporting. */
export const describeHold = (network: string, hold: Hold, reason: string, addresses = hold.addresses): Freed => ({
  network,
  kind: 'hold',
  reason,
  containerID: hold.containerID,
  ifname: hold.ifname,
  addresses: [...addresses],
});

/** Frees one leak under the session's lock; `addresses` becomes what was actually freed. */
export async function freeLeak(session: NetworkSession, leak: Leak, reason?: string): Promise<Freed> {
  return { ...describeLeak(session.network, leak, reason), addresses: await freeLeaks(session, [leak]) };
}

export function printFreed(items: Freed[], opts: { json?: boolean; dryRun?: boolean }, extra: Record<string, unknown> = {}): void {
  if (opts.json) {
    out(json({ dryRun: opts.dryRun === true, ...extra, freed: items }));
    return;
  }
  const verb = opts.dryRun ? 'would free' : 'freed';
  if (items.length === 0) {
    out(opts.dryRun ? 'nothing to free' : 'nothing freed');
    return;
  }
  out(
    table(
      ['NETWORK', verb.toUpperCase(), 'CONTAINER', 'IFNAME', 'REASON'],
      items.map((f) => [
        f.network,
        f.addresses.join(',') || '(nothing: claims were no longer held)',
        f.containerID ? shortId(f.containerID) : '-',
        f.ifname ?? '-',
        f.reason,
      ]),
    ),
  );
  const n = items.reduce((s, f) => s + f.addresses.length, 0);
  out(`${verb} ${n} address(es) in ${items.length} ${items.length === 1 ? 'entry' : 'entries'}`);
}
