// Freeing leases and claims (release, gc) and reporting exactly what was freed, shared by both commands.
import type { Leak, LeakReason } from '../allocator/leaks.js';
import type { Hold } from '../allocator/reuse.js';
import type { Lease } from '../store/lease.js';
import { type NetworkSession, freeLeaks } from '../store/store.js';
import { out } from './context.js';
import { json, shortId, table } from './format.js';

export interface Freed {
  network: string;
  /** A whole lease record with its claims, a claim no record owns, or a deleted pod's hold. */
  kind: 'lease' | 'claim' | 'hold';
  /** Why: what the leak rule found (not-valid is gc --keep-from's), hold-expired, or released (leasehold release). */
  reason: LeakReason | 'hold-expired' | 'released';
  containerID: string | null;
  ifname: string | null;
  addresses: string[];
}

/** What freeing a lease (with its claims) or a claim no record owns would free, without doing it. */
function describe(network: string, what: Pick<Leak, 'lease' | 'address'>, reason: Freed['reason']): Freed {
  const l = what.lease;
  return l
    ? { network, kind: 'lease', reason, containerID: l.containerID, ifname: l.ifname, addresses: [...l.addresses] }
    : { network, kind: 'claim', reason, containerID: null, ifname: null, addresses: [what.address!] };
}

/** What freeing the leak would free, without doing it. */
export const describeLeak = (network: string, leak: Leak): Freed => describe(network, leak, leak.reason);

/** What ending a hold frees (its addresses, once it ended), for reporting. */
export const describeHold = (network: string, hold: Hold, reason: Freed['reason'], addresses = hold.addresses): Freed => ({
  network,
  kind: 'hold',
  reason,
  containerID: hold.containerID,
  ifname: hold.ifname,
  addresses: [...addresses],
});

/** Frees a lease with its claims, or a claim no record owns, under the session's lock; `addresses` is what was actually freed. */
async function free(session: NetworkSession, what: Pick<Leak, 'lease' | 'address'>, reason: Freed['reason']): Promise<Freed> {
  return { ...describe(session.network, what, reason), addresses: await freeLeaks(session, [what]) };
}

/** Frees one leak the rule found. */
export const freeLeak = (session: NetworkSession, leak: Leak): Promise<Freed> => free(session, leak, leak.reason);

/** What an operator's release names: a whole lease with its claims, or one claim no record owns. */
export type Release = { lease: Lease } | { address: string };

/** Frees what the operator named, reported as `released`. */
export const freeRelease = (session: NetworkSession, what: Release): Promise<Freed> => free(session, what, 'released');

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
