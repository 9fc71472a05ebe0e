// Which leases are leaked, decided from facts gathered by the caller (no I/O here).
import type { Lease } from '../store/lease.js';

export type LeakReason = 'stale-boot' | 'netns-gone' | 'not-valid' | 'orphan-claim';

export interface Leak {
  reason: LeakReason;
  lease?: Lease;
  /** For orphan claims: the claimed address that no record owns, and who the claim names. */
  address?: string;
  holder?: { containerID: string; ifname: string } | undefined;
}

export interface Claim {
  address: string;
  holder: { containerID: string; ifname: string } | undefined;
  /** When the claim file was written (ms since the epoch), if known. */
  mtimeMs?: number;
}

/** A lease from an earlier boot cannot belong to a running container: containers do not survive a reboot. */
export const isStaleBoot = (lease: Lease, bootId: string | null): boolean =>
  bootId !== null && lease.bootId !== null && lease.bootId !== bootId;

/**
 * Claims that no lease record lists: left by a crash between a record's removal and its claims', or
 * written by a host-local still running on this network after leasehold adopted it. Callers decide which
 * of them are safe to free (see claimsFromEarlierBoot and CNI GC).
 */
export function orphanClaims(leases: Lease[], claims: Claim[]): Leak[] {
  const owned = new Set<string>();
  for (const l of leases) for (const a of l.addresses) owned.add(`${a}\0${l.containerID}\0${l.ifname}`);
  return claims
    .filter((c) => !c.holder || !owned.has(`${c.address}\0${c.holder.containerID}\0${c.holder.ifname}`))
    .map((c) => ({ reason: 'orphan-claim' as const, address: c.address, holder: c.holder }));
}

/** Only a claim written before this boot is certainly not a running container's. */
export const claimsFromEarlierBoot = (claims: Claim[], bootTimeMs: number | null): Claim[] =>
  bootTimeMs === null ? [] : claims.filter((c) => c.mtimeMs !== undefined && c.mtimeMs < bootTimeMs);

export interface LeakFacts {
  bootId: string | null;
  /** Whether a lease's recorded netns path still exists; omit to skip that test. */
  netnsExists?: (path: string) => boolean;
}

export function findLeaks(leases: Lease[], claims: Claim[], facts: LeakFacts): Leak[] {
  const out: Leak[] = [];
  for (const lease of leases) {
    if (isStaleBoot(lease, facts.bootId)) out.push({ reason: 'stale-boot', lease });
    else if (facts.netnsExists && lease.netns !== '' && !facts.netnsExists(lease.netns)) out.push({ reason: 'netns-gone', lease });
  }
  return [...out, ...orphanClaims(leases, claims)];
}

/** CNI GC: every lease, and every orphan claim, whose attachment the runtime did not list as valid. */
export function notValid(leases: Lease[], valid: Array<{ containerID: string; ifname: string }>, orphans: Leak[] = []): Leak[] {
  const keep = new Set(valid.map((v) => `${v.containerID}\0${v.ifname}`));
  const listed = (a: { containerID: string; ifname: string } | undefined) => a !== undefined && keep.has(`${a.containerID}\0${a.ifname}`);
  return [
    ...leases.filter((l) => !listed(l)).map((lease) => ({ reason: 'not-valid' as const, lease })),
    ...orphans.filter((o) => !listed(o.holder)),
  ];
}
