// Taking over host-local's reservations in a network directory: each "<address>" file with
// "<containerID>\r\n<ifname>" becomes (part of) a lease record, so a node can switch plugins while
// containers run, and a later DEL of those containers frees their addresses.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFile, fsyncDir, readIfExists } from './fsutil.js';
import { LEASE_FORMAT, type Lease, claimAddress, leaseFileName } from './lease.js';
import type { NetworkStore } from './network-store.js';

export interface Adoption {
  /** Records created or extended (or that would be, with dryRun). */
  adopted: Array<{ containerID: string; ifname: string; addresses: string[] }>;
  /** Round-robin positions from host-local's last_reserved_ip.<n> files. */
  cursors: Record<string, string>;
}

/** Idempotent: addresses already in a record are skipped. The caller holds the network lock. */
export function adoptHostLocal(store: NetworkStore, dryRun: boolean): Adoption {
  const names = readdirSync(store.dir);
  const cursors: Record<string, string> = {};
  const byAttachment = new Map<string, { containerID: string; ifname: string; addresses: string[]; mtime: Date }>();
  for (const name of names) {
    const m = /^last_reserved_ip\.(\d+)$/.exec(name);
    if (m) {
      const text = readIfExists(join(store.dir, name))?.trim();
      if (text && claimAddress(text)) cursors[m[1]!] = text;
      continue;
    }
    const address = claimAddress(name);
    if (!address) continue;
    const holder = store.claimHolder(address);
    if (!holder) continue;
    const key = `${holder.containerID}\0${holder.ifname}`;
    const entry = byAttachment.get(key) ?? { ...holder, addresses: [], mtime: statSync(join(store.dir, name)).mtime };
    entry.addresses.push(address);
    byAttachment.set(key, entry);
  }
  const adopted: Adoption['adopted'] = [];
  for (const a of byAttachment.values()) {
    const existing = store.getLease(a.containerID, a.ifname);
    const missing = a.addresses.filter((x) => !existing?.addresses.includes(x));
    if (missing.length === 0) continue;
    adopted.push({ containerID: a.containerID, ifname: a.ifname, addresses: missing });
    if (dryRun) continue;
    const lease: Lease = existing
      ? { ...existing, addresses: [...existing.addresses, ...missing] }
      : {
          format: LEASE_FORMAT,
          containerID: a.containerID,
          ifname: a.ifname,
          addresses: missing,
          netns: '',
          createdAt: a.mtime.toISOString(),
          bootId: null,
          adoptedFromHostLocal: true,
        };
    replaceFile(store.leasesDir, leaseFileName(a.containerID, a.ifname), `${JSON.stringify(lease)}\n`);
  }
  if (!dryRun && adopted.length > 0) fsyncDir(store.leasesDir);
  return { adopted, cursors };
}
