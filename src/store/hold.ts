// Holds as stored, whatever the backend: one decoder that every reader goes through, and the rules of what a
// DEL leaves behind for the next pod (a hold for the same pod, or a cooldown).
import { HOLD_FORMAT, type Hold } from '../allocator/reuse.js';
import { isCanonicalIp } from '../net/ip.js';
import type { Lease } from './lease.js';
import { decodeVersioned } from './lease.js';

export { HOLD_FORMAT, type Hold };

/** What a DEL leaves behind, decided by the verb from the config: ends of a hold and of a cooldown (ISO times). */
export interface ReleasePolicy {
  now: string;
  /** ipam.sticky: a lease that names its pod leaves its addresses held for that pod until then. */
  holdUntil?: string;
  /** ipam.reuseCooldownSeconds: freed addresses (not held) cool until then. */
  coolUntil?: string;
}

const isTime = (v: unknown): v is string => typeof v === 'string' && v.length >= 20 && v.charAt(10) === 'T';

/** The one decoder of hold records. */
export function decodeHold(text: string): Hold | string {
  const v = decodeVersioned<Hold>(text, 'hold', HOLD_FORMAT);
  if (typeof v === 'string') return v;
  if (typeof v.namespace !== 'string' || typeof v.name !== 'string' || typeof v.ifname !== 'string') return 'missing namespace, name or ifname';
  if (!Array.isArray(v.addresses) || !v.addresses.every(isCanonicalIp)) return 'addresses must be a list of addresses';
  if (!isTime(v.until) || !isTime(v.releasedAt)) return 'until and releasedAt must be ISO times';
  if (typeof v.containerID !== 'string') return 'missing containerID';
  return v as Hold;
}

export const encodeHold = (h: Hold): string => `${JSON.stringify(h)}\n`;

/** A cooling entry's end, as stored (a disk symlink's target, an etcd value): an ISO time, or undefined. */
export const decodeCoolingEnd = (text: string): string | undefined => (isTime(text.trim()) ? text.trim() : undefined);

/** The hold a DEL of `lease` leaves under `policy`: only a lease that names its pod is sticky. */
export function holdFor(lease: Lease, policy: ReleasePolicy | undefined): Hold | undefined {
  if (!policy?.holdUntil || lease.podName === undefined || lease.podNamespace === undefined || lease.podName === '') return undefined;
  return {
    format: HOLD_FORMAT,
    namespace: lease.podNamespace,
    name: lease.podName,
    ifname: lease.ifname,
    addresses: lease.addresses,
    releasedAt: policy.now,
    until: policy.holdUntil,
    containerID: lease.containerID,
    ...(lease.node !== undefined && { node: lease.node }),
  };
}

/**
 * A hold already there for the same release (a DEL that ran before, cut short before it removed the record,
 * then repeated): kept as it is, so a repeated DEL never extends a hold.
 */
export const keepsHold = (existing: Hold, lease: Lease): boolean =>
  existing.containerID === lease.containerID && existing.releasedAt >= lease.createdAt && existing.addresses.join() === lease.addresses.join();
