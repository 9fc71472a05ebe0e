// Lease records as stored, whatever the backend: one decoder that every reader goes through.
import { LEASE_FORMAT, type Lease } from '../allocator/lease.js';
import { type Attachment, sameAttachment } from '../base/ids.js';
import { isCanonicalIp } from '../net/ip.js';

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
export function decodeLease(text: string, of?: Attachment): Lease | string {
  const v = decodeVersioned<Lease>(text, 'lease', LEASE_FORMAT);
  if (typeof v === 'string') return v;
  if (typeof v.containerID !== 'string' || typeof v.ifname !== 'string' || !Array.isArray(v.addresses)) return 'missing containerID, ifname or addresses';
  // A record stored under one attachment's name that names another would make its DEL free the other's claims.
  if (of && !sameAttachment(v as Lease, of))
    return `names container ${v.containerID.slice(0, 80)} interface ${v.ifname.slice(0, 20)}, not the attachment it is stored for`;
  for (const a of v.addresses) {
    // Claims are named by canonical addresses: another spelling would name a claim that is not this lease's.
    if (!isCanonicalIp(a)) return `address ${JSON.stringify(a).slice(0, 80)} is not an address in canonical form`;
  }
  for (const key of ['netns', 'createdAt'] as const) if (typeof v[key] !== 'string') return `${key} is not a string`;
  for (const key of ['podNamespace', 'podName', 'node'] as const) if (v[key] !== undefined && typeof v[key] !== 'string') return `${key} is not a string`;
  if (v.bootId !== null && typeof v.bootId !== 'string') return 'bootId is neither a string nor null';
  if (v.adoptedFromHostLocal !== undefined && typeof v.adoptedFromHostLocal !== 'boolean') return 'adoptedFromHostLocal is not a boolean';
  return v as Lease;
}

export const encodeLease = (lease: Lease): string => `${JSON.stringify(lease)}\n`;
