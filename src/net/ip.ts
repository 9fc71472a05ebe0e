// Addresses as (family, bigint) pairs: parsed once, and all range arithmetic is plain bigint math so the
// allocator never re-parses strings in its loop. The parser is the project's own, chosen on start-up cost:
// loading it and parsing a first CIDR costs less than ipaddr.js or ip-address, which builds tables at load
// (measured in docs/performance.md).
import { digitsValue } from '../base/digits.js';

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

const DOT = 46;
const ZERO = 48;

/**
 * An IPv4 address in dotted decimal without leading zeros ("010" is octal to inet_aton and decimal to Go, so it
 * is refused), or undefined. Read by hand: the equivalent regular expression was compiled on its first use in
 * every process (docs/performance.md).
 */
function v4Value(text: string): bigint | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let octets = 0;
  // A virtual dot after the last character closes the last octet.
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || octet > 255) return undefined;
      value = value * 256 + octet;
      octets++;
      octet = 0;
      digits = 0;
    } else if (c >= ZERO && c <= ZERO + 9 && digits < 3 && !(digits === 1 && octet === 0)) {
      octet = octet * 10 + (c - ZERO);
      digits++;
    } else return undefined;
  }
  return octets === 4 ? BigInt(value) : undefined;
}

/** The 16-bit groups of one side of "::" (a trailing dotted IPv4 counts as two), or undefined. */
function groupsOf(side: string, last: boolean): number[] | undefined {
  if (side === '') return [];
  const parts = side.split(':');
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (last && i === parts.length - 1 && p.includes('.')) {
      const v = v4Value(p);
      if (v === undefined) return undefined;
      out.push(Number(v >> 16n), Number(v & 0xffffn));
    } else {
      const g = digitsValue(p, 16, 4);
      if (g === undefined) return undefined;
      out.push(g);
    }
  }
  return out;
}

/** An IPv6 address (RFC 4291 text forms, no zone), or undefined. */
function v6Value(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const n = head.length + tail.length;
  // "::" stands for at least one zero group; without it there must be exactly eight.
  if (halves.length === 2 ? n > 7 : n !== 8) return undefined;
  let v = 0n;
  for (const g of [...head, ...new Array<number>(8 - n).fill(0), ...tail]) v = (v << 16n) | BigInt(g);
  return v;
}

const MAPPED_PREFIX = 0xffffn;
/** ::ffff:0:0/96, the IPv4-mapped IPv6 addresses: refused wherever an address is read, never handed out. */
export const IPV4_MAPPED = { family: 6, first: MAPPED_PREFIX << 32n, last: (MAPPED_PREFIX << 32n) | 0xffffffffn } as const;

/** Parses one address, with or without a /prefix (the prefix is ignored). Throws with a readable message. */
export function parseIp(text: string): Ip {
  return parseCidrLoose(text).ip;
}

/** Parses `addr/prefix`, also accepting a bare address (as a full-length prefix). */
/** An address, or undefined when the text is not one (state and record files, hand-edited or old). */
export function tryParseIp(text: string): Ip | undefined {
  try {
    return parseIp(text);
  } catch {
    return undefined;
  }
}

export function parseCidrLoose(text: string): Cidr {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) {
    throw new Error(`"${String(text).slice(0, 64)}" is not an IP address`);
  }
  const family: Family = text.includes(':') ? 6 : 4;
  if (family === 6 && text.includes('%')) throw new Error(`"${text}" carries an IPv6 zone, which is not allowed here`);
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const value = family === 4 ? v4Value(addr) : v6Value(addr);
  const prefix = prefixText === undefined ? bitsOf(family) : (digitsValue(prefixText, 10, 3) ?? -1);
  if (value === undefined || prefix < 0 || prefix > bitsOf(family)) {
    throw new Error(`"${text}" is not a valid IPv${family} address`);
  }
  // An IPv4-mapped IPv6 address (::ffff:0:0/96, in any spelling) would let one IPv4 address be handed out
  // twice under two spellings.
  if (family === 6 && value >> 32n === MAPPED_PREFIX) throw new Error(`"${text}" is an IPv4-mapped IPv6 address; write the IPv4 address instead`);
  return { ip: { family, value }, prefix };
}

/** Parses a CIDR that must carry an explicit prefix. */
export function parseCidr(text: string): Cidr {
  if (typeof text !== 'string' || !text.includes('/')) throw new Error(`"${String(text)}" is not in CIDR form (address/prefix)`);
  return parseCidrLoose(text);
}

/** Dotted decimal, or RFC 5952: lower case, no leading zeros, the first longest run of 2+ zero groups as "::". */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => (ip.value >> s) & 0xffn).join('.');
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((ip.value >> s) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  return best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
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

/** Whether v is an address written in its canonical form, as every stored document and claim name holds one. */
export function isCanonicalIp(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const ip = tryParseIp(v);
  return ip !== undefined && formatIp(ip) === v;
}
