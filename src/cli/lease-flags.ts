// Flags list shows next to a lease (the ones gc frees for).
import { isNetnsGone, isStaleBoot } from '../allocator/leaks.js';
import type { Lease } from '../store/lease.js';
import { judgeablePart } from '../store/store.js';
import type { Facts } from './context.js';

export type LeaseFlag = 'stale-boot' | 'netns-gone';

/**
 * Flags shown next to a lease; a lease with any flag is one gc frees. In cluster mode (`me.node`) a lease this
 * name did not make on this machine gets none: this boot and this node's netns say nothing about it.
 */
export function leaseFlags(lease: Lease, facts: Facts, me: { node?: string; machine?: string | null }): LeaseFlag[] {
  const flags: LeaseFlag[] = [];
  if (me.node !== undefined && judgeablePart({ ...me, leases: [lease], claims: [] }).leases.length === 0) return flags;
  if (isStaleBoot(lease, facts.bootId)) flags.push('stale-boot');
  if (isNetnsGone(lease, facts.netnsExists)) flags.push('netns-gone');
  return flags;
}
