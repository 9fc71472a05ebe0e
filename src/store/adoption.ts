// Taking over host-local's reservations: each claim "<address>" holding "<containerID>\r\n<ifname>" becomes
// (part of) a lease record, so a node can switch plugins while containers run, and a later DEL of those
// containers frees their addresses. A pure plan: the store applies it (first contact on ADD, or
// `leasehold import-host-local`, which can print it with --dry-run instead).
import { attachmentKey } from '../base/ids.js';
import { isoTime } from '../base/proc.js';
import type { Claim } from '../allocator/leaks.js';
import { LEASE_FORMAT, type Lease } from './lease.js';
import type { Adoption } from './store.js';

/**
 * Idempotent: addresses already in a record are skipped. `legacyCursors` are host-local's
 * last_reserved_ip.<n> positions; they are taken only for range sets without a cursor in `current`.
 */
export function planAdoption(claims: Claim[], legacyCursors: Record<string, string>, leases: Lease[], current: Record<string, string>): Adoption {
  const existing = new Map(leases.map((l) => [attachmentKey(l), l]));
  const byAttachment = new Map<string, { lease: Lease; added: string[] }>();
  for (const c of [...claims].sort((a, b) => (a.mtimeMs ?? 0) - (b.mtimeMs ?? 0))) {
    if (!c.holder) continue;
    const key = attachmentKey(c.holder);
    const had = existing.get(key);
    if (had?.addresses.includes(c.address)) continue;
    let entry = byAttachment.get(key);
    if (!entry) {
      const lease: Lease = had
        ? { ...had, addresses: [...had.addresses] }
        : {
            format: LEASE_FORMAT,
            containerID: c.holder.containerID,
            ifname: c.holder.ifname,
            addresses: [],
            netns: '',
            createdAt: isoTime(c.mtimeMs),
            bootId: null,
            adoptedFromHostLocal: true,
          };
      entry = { lease, added: [] };
      byAttachment.set(key, entry);
    }
    entry.lease.addresses.push(c.address);
    entry.added.push(c.address);
  }
  const cursors = Object.fromEntries(Object.entries(legacyCursors).filter(([k]) => current[k] === undefined));
  return { adopted: [...byAttachment.values()], cursors };
}
