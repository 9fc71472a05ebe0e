// Lease records as stored, whatever the backend: one decoder that every reader goes through.
import { LEASE_FORMAT, type Lease } from '../allocator/lease.js';

export { LEASE_FORMAT, type Lease };

/** Parses a versioned JSON document; a string result says why it cannot be used. */
export function decodeVersioned<T extends { format: number }>(text: string, what: string, format: number): Partial<T> | string {
  let v: Partial<T>;
  try {
    v = JSON.parse(text) as Partial<T>;
  } catch (e) {
    return `not valid JSON (${(e as Error).message.slice(0, 100)})`;
  }
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  if (v.format !== format)
    return `${what} format ${JSON.stringify(v.format)} is not one this leasehold reads (it reads ${format}); use the leasehold that wrote it`;
  return v;
}

/** The one decoder of lease records: every reader (plugin verbs, CLI, every backend) goes through it. */
export function decodeLease(text: string): Lease | string {
  const v = decodeVersioned<Lease>(text, 'lease', LEASE_FORMAT);
  if (typeof v === 'string') return v;
  if (typeof v.containerID !== 'string' || typeof v.ifname !== 'string' || !Array.isArray(v.addresses)) return 'missing containerID, ifname or addresses';
  if (!v.addresses.every((a) => typeof a === 'string')) return 'malformed addresses';
  return v as Lease;
}

export const encodeLease = (lease: Lease): string => `${JSON.stringify(lease)}\n`;
