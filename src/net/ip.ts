// Addresses as (family, bigint) pairs: parsing is done once with ip-address, and all range arithmetic
// is plain bigint math so the allocator never re-parses strings in its loop.
import { Address4, Address6 } from 'ip-address';

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint;
}

export interface Cidr {
  ip: Ip;
  prefix: number;
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128);

/** Parses one address, with or without a /prefix (the prefix is ignored). Throws with a readable message. */
export function parseIp(text: string): Ip {
  return parseCidrLoose(text).ip;
}

/** Parses `addr/prefix`, also accepting a bare address (as a full-length prefix). */
export function parseCidrLoose(text: string): Cidr {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) {
    throw new Error(`"${String(text).slice(0, 64)}" is not an IP address`);
  }
  if (text.includes(':')) {
    if (text.includes('%')) throw new Error(`"${text}" carries an IPv6 zone, which is not allowed here`);
    let a: Address6;
    try {
      a = new Address6(text);
    } catch {
      throw new Error(`"${text}" is not a valid IPv6 address`);
    }
    // An IPv4-mapped IPv6 address would let one IPv4 address be handed out twice under two spellings.
    if (a.is4() || a.bigInt() >> 32n === 0xffffn) throw new Error(`"${text}" is an IPv4-mapped IPv6 address; write the IPv4 address instead`);
    return { ip: { family: 6, value: a.bigInt() }, prefix: a.subnetMask };
  }
  let a: Address4;
  try {
    a = new Address4(text);
  } catch {
    throw new Error(`"${text}" is not a valid IPv4 address`);
  }
  return { ip: { family: 4, value: a.bigInt() }, prefix: a.subnetMask };
}

/** Parses a CIDR that must carry an explicit prefix. */
export function parseCidr(text: string): Cidr {
  if (typeof text !== 'string' || !text.includes('/')) throw new Error(`"${String(text)}" is not in CIDR form (address/prefix)`);
  return parseCidrLoose(text);
}

export function formatIp(ip: Ip): string {
  return ip.family === 4 ? Address4.fromBigInt(ip.value).correctForm() : Address6.fromBigInt(ip.value).correctForm();
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.ip)}/${c.prefix}`;
}

export function hostMask(family: Family, prefix: number): bigint {
  return (1n << BigInt(bitsOf(family) - prefix)) - 1n;
}

export function networkOf(c: Cidr): bigint {
  return c.ip.value & ~hostMask(c.ip.family, c.prefix);
}

export function lastOf(c: Cidr): bigint {
  return networkOf(c) | hostMask(c.ip.family, c.prefix);
}

/** Canonical text of an address, so that "FD00::0001" and "fd00::1" name one lease. */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}
