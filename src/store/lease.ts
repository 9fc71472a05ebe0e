// The lease record: one small JSON file per attachment (container + interface), so ADD and DEL read and
// write only what they touch, whatever the size of the network.
import { readFileSync } from 'node:fs';
import { canonicalIp } from '../net/ip.js';

export const LEASE_FORMAT = 1;

export interface Lease {
  format: typeof LEASE_FORMAT;
  containerID: string;
  ifname: string;
  /** Canonical addresses, without prefix: one per range set. */
  addresses: string[];
  podNamespace?: string;
  podName?: string;
  netns: string;
  createdAt: string;
  /** The kernel's boot id at ADD; null for leases adopted from host-local, whose boot is unknown. */
  bootId: string | null;
  adoptedFromHostLocal?: boolean;
}

/** File name of an attachment's record. Long or unusual ids are hashed to stay within NAME_MAX. */
export function leaseFileName(containerID: string, ifname: string): string {
  const plain = `${containerID}@${encodeURIComponent(ifname)}.json`;
  if (plain.length <= 200) return plain;
  // node:crypto costs ~10 ms to load, so only ids too long for a file name pay for it.
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  return `h-${createHash('sha256').update(`${containerID}\0${ifname}`).digest('hex')}.json`;
}

/** host-local's reservation content, kept for claim files so either plugin reads the other's. */
export const claimContent = (containerID: string, ifname: string): string => `${containerID}\r\n${ifname}`;

export function parseClaim(text: string): { containerID: string; ifname: string } | undefined {
  const [containerID, ifname] = text.trim().split(/\r?\n/);
  return containerID ? { containerID, ifname: ifname?.trim() ?? '' } : undefined;
}

/** Parses a versioned JSON file; a string result says why it cannot be used. */
export function decodeVersioned<T extends { format: number }>(text: string, what: string, format: number): Partial<T> | string {
  let v: Partial<T>;
  try {
    v = JSON.parse(text) as Partial<T>;
  } catch (e) {
    return `not valid JSON (${(e as Error).message.slice(0, 100)})`;
  }
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  if (v.format !== format) return `${what} format ${JSON.stringify(v.format)} is not one this leasehold reads (it reads ${format}); use the leasehold that wrote it`;
  return v;
}

export function decodeLease(text: string): Lease | string {
  const v = decodeVersioned<Lease>(text, 'lease', LEASE_FORMAT);
  if (typeof v === 'string') return v;
  if (typeof v.containerID !== 'string' || typeof v.ifname !== 'string' || !Array.isArray(v.addresses)) return 'missing containerID, ifname or addresses';
  if (!v.addresses.every((a) => typeof a === 'string')) return 'malformed addresses';
  return v as Lease;
}

/** When this boot started, from /proc/stat's btime. */
export function readBootTimeMs(): number | null {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'));
    return m ? Number(m[1]) * 1000 : null;
  } catch {
    return null;
  }
}

export function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || null;
  } catch {
    return null;
  }
}

/** A claim file is named by an address in canonical form; other names in the directory are not claims. */
export function claimAddress(name: string): string | undefined {
  if (!/^[0-9a-f.:]+$/i.test(name)) return undefined;
  try {
    return canonicalIp(name) === name ? name : undefined;
  } catch {
    return undefined;
  }
}
