// The one rule for which leases and claims may be freed, decided from facts the caller gathered (no I/O).
// ADD's reclaim-when-full, CNI GC, `leasehold gc`, `check` and `release` all ask it, each giving the facts
// it has: a rule whose fact is missing does not apply.
import { type Attachment, attachmentKey } from '../base/ids.js';
import type { Lease } from './lease.js';

export type LeakReason = 'stale-boot' | 'netns-gone' | 'not-valid' | 'orphan-claim' | 'not-imported';

export interface Claim {
  address: string;
  holder: Attachment | undefined;
  /** When the claim was written (ms since the epoch), if known. */
  mtimeMs?: number;
}

export interface Leak {
  reason: LeakReason;
  /** A whole lease record with its claims, or (without) one claim that no record owns. */
  lease?: Lease;
  address?: string;
  holder?: Attachment | undefined;
  /** Whether the rule allows freeing it; when not, `keptBecause` says why. */
  freeable: boolean;
  keptBecause?: string;
}

export interface LeakFacts {
  /** This boot's id: a lease recorded under another boot cannot belong to a running container. */
  bootId?: string | null;
  /** When this boot began: a claim no record owns and written before it is no running container's. */
  bootTimeMs?: number | null;
  /** Whether a lease's recorded netns still exists. */
  netnsExists?: (path: string) => boolean;
  /** The attachments the runtime says are alive (CNI GC, `gc --keep-from`): every other one is freed... */
  valid?: Attachment[];
  /** ...unless written after the list was made (ms since the epoch): an ADD that raced the list. */
  listedAt?: number;
  /** False for a network leasehold has never written to: its claims are host-local's, to be imported. */
  imported?: boolean;
}

/** A lease from an earlier boot cannot belong to a running container: containers do not survive a reboot. */
export const isStaleBoot = (lease: Lease, bootId: string | null | undefined): boolean =>
  bootId != null && lease.bootId !== null && lease.bootId !== undefined && lease.bootId !== bootId;

export const isNetnsGone = (lease: Lease, netnsExists: LeakFacts['netnsExists']): boolean =>
  netnsExists !== undefined && lease.netns !== '' && !netnsExists(lease.netns);

/** Claims that no lease record lists: left by a crash between a record's removal and its claims', or written by host-local. */
export function unownedClaims(leases: Lease[], claims: Claim[]): Claim[] {
  const owned = new Set<string>();
  for (const l of leases) for (const a of l.addresses) owned.add(`${a}\0${attachmentKey(l)}`);
  return claims.filter((c) => !c.holder || !owned.has(`${c.address}\0${attachmentKey(c.holder)}`));
}

function leaseLeak(lease: Lease, f: LeakFacts, listed: (a: Attachment) => boolean): Leak | undefined {
  if (isStaleBoot(lease, f.bootId)) return { reason: 'stale-boot', lease, freeable: true };
  if (isNetnsGone(lease, f.netnsExists)) return { reason: 'netns-gone', lease, freeable: true };
  if (f.valid && !listed(lease)) {
    const raced = f.listedAt !== undefined && !(Date.parse(lease.createdAt) < f.listedAt);
    return raced
      ? { reason: 'not-valid', lease, freeable: false, keptBecause: 'created after the list of live attachments' }
      : { reason: 'not-valid', lease, freeable: true };
  }
  return undefined;
}

function claimLeak(c: Claim, f: LeakFacts, listed: (a: Attachment) => boolean): Leak {
  const base = { address: c.address, holder: c.holder };
  if (f.imported === false) return { ...base, reason: 'not-imported', freeable: false, keptBecause: 'it is a host-local reservation not imported yet' };
  if (f.bootTimeMs != null && c.mtimeMs !== undefined && c.mtimeMs < f.bootTimeMs) return { ...base, reason: 'orphan-claim', freeable: true };
  if (f.valid && !(c.holder && listed(c.holder)) && (f.listedAt === undefined || (c.mtimeMs ?? Infinity) < f.listedAt)) {
    return { ...base, reason: 'orphan-claim', freeable: true };
  }
  // A host-local still running on the network writes exactly such claims: only an operator may free them.
  return { ...base, reason: 'orphan-claim', freeable: false, keptBecause: 'no record owns it, but it was written in this boot' };
}

/** Every lease and unowned claim that some rule calls leaked, leases first; `freeable` says which may go. */
export function findLeaks(leases: Lease[], claims: Claim[], facts: LeakFacts): Leak[] {
  const valid = new Set((facts.valid ?? []).map(attachmentKey));
  const listed = (a: Attachment): boolean => valid.has(attachmentKey(a));
  const out: Leak[] = [];
  for (const lease of leases) {
    const leak = leaseLeak(lease, facts, listed);
    if (leak) out.push(leak);
  }
  for (const c of unownedClaims(leases, claims)) out.push(claimLeak(c, facts, listed));
  return out;
}

/** Only the leaks the rule allows freeing. */
export const freeableLeaks = (leases: Lease[], claims: Claim[], facts: LeakFacts): Leak[] => findLeaks(leases, claims, facts).filter((l) => l.freeable);
