// Network configs at the limits the validator allows (src/config/ranges.ts LIMITS): the most range sets and
// ranges, the largest subnets, the most ipam.exclude entries (long runs of them at the start of ranges, a /96
// out of a /64, scattered single addresses, entries outside every range), the longest names. Generated from a
// seeded PRNG, for the config fuzzer (test/faults/config-fuzz.test.ts) and the benchmark's limits row.
import { LIMITS } from '../../src/config/ranges';
import { type Family, formatIp, lastOf, networkOf, parseCidrLoose } from '../../src/net/ip';

type Rand = () => number;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const oneOf = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
/** Half the time exactly the limit, else anything from 1 up to it. */
const upTo = (r: Rand, max: number): number => (r() < 0.5 ? max : int(r, 1, max));

const ID_FIRST = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ID_REST = `${ID_FIRST}_.-`;
/** A valid network name or container id of exactly `length` characters. */
export function idOf(r: Rand, length: number): string {
  let s = oneOf(r, [...ID_FIRST]);
  while (s.length < length) s += oneOf(r, [...ID_REST]);
  return s;
}

/** libcni's bound on an interface name: 15 bytes. */
export const MAX_IFNAME = 15;
/** The longest container id leasehold accepts (src/base/ids.ts). */
export const MAX_CONTAINER_ID = 1024;

export interface RawRange {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

const ip = (family: Family, value: bigint): string => formatIp({ family, value });

/**
 * One range in a block of its own (so no two overlap): IPv4 range k in (k+1).0.0.0/8, IPv6 range k in
 * fd00:k::/48, as large as the block or smaller down to the smallest subnet allowed, sometimes with its own
 * rangeStart, rangeEnd and gateway.
 */
function rangeAt(r: Rand, family: Family, k: number, tight: boolean): RawRange {
  const base = family === 4 ? BigInt(k + 1) << 24n : (0xfd00n << 112n) | (BigInt(k) << 80n);
  const prefix = tight ? (family === 4 ? 29 : 125) : family === 4 ? oneOf(r, [8, 8, 8, 16, 24, 30]) : oneOf(r, [48, 64, 64, 64, 96, 120, 126]);
  const subnet = `${ip(family, base)}/${prefix}`;
  const c = parseCidrLoose(subnet);
  const [net, last] = [networkOf(c), lastOf(c)];
  const [lowest, highest] = [net + 1n, family === 4 ? last - 1n : last];
  const range: RawRange = { subnet };
  if (!tight && r() < 0.3) {
    const span = highest - lowest;
    const start = lowest + (span > 1000n ? BigInt(int(r, 0, 1000)) : 0n);
    const end = highest - (span > 2000n ? BigInt(int(r, 0, 1000)) : 0n);
    range.rangeStart = ip(family, start);
    range.rangeEnd = ip(family, end);
  }
  if (r() < 0.3) range.gateway = ip(family, net + BigInt(int(r, 0, Number(last - net < 8n ? last - net : 8n))));
  return range;
}

export interface LimitsConfig {
  /** The config on stdin: cniVersion 1.1.0, so every verb (STATUS too) may run. */
  conf: { cniVersion: string; name: string; ipam: { type: string; dataDir: string; ranges: RawRange[][]; exclude: string[]; lockTimeoutMs: number } };
  /** A summary for failure messages: the whole config is too long to print. */
  shape: string;
}

/** Excludes that hit a range: a run from its start (a CIDR, or /24s or /120s one after another), or addresses in it. */
function excludesIn(r: Rand, range: RawRange, room: number): string[] {
  const c = parseCidrLoose(range.rangeStart ?? range.subnet);
  const family = c.ip.family;
  const start = range.rangeStart ? c.ip.value : networkOf(parseCidrLoose(range.subnet));
  const bits = family === 4 ? 32 : 128;
  const prefix = parseCidrLoose(range.subnet).prefix;
  const out: string[] = [];
  switch (oneOf(r, ['head', 'run', 'scatter'] as const)) {
    case 'head': {
      // One CIDR from the range's start: half the subnet, or a /96 of a /64.
      const p = Math.min(bits, Math.max(prefix + 1, family === 6 && prefix <= 64 ? 96 : prefix + int(r, 1, 8)));
      out.push(`${ip(family, start)}/${p}`);
      break;
    }
    case 'run': {
      // Consecutive blocks from the start, each its own entry, as an operator lists reserved subnets.
      const p = Math.min(bits, Math.max(prefix + 1, family === 4 ? 24 : 120));
      const size = 1n << BigInt(bits - p);
      const aligned = start & ~(size - 1n);
      for (let i = 0; i < room; i++) out.push(`${ip(family, aligned + BigInt(i) * size)}/${p}`);
      break;
    }
    case 'scatter':
      for (let i = 0; i < room; i++) out.push(ip(family, start + BigInt(int(r, 0, 4 * room))));
  }
  // Past ::fffe:ffff:ffff an entry would name an IPv4-mapped address, which no config may.
  return out.filter((text) => {
    try {
      return parseCidrLoose(text) !== undefined;
    } catch {
      return false;
    }
  });
}

/**
 * A valid config at or near every limit at once: LIMITS.rangeSets sets holding LIMITS.ranges ranges, up to
 * LIMITS.exclude excludes, a name of LIMITS.networkName characters (each limit reached half the time). Some
 * range sets are tight (a /29 or /125 with part excluded) so that ADDs run them out.
 */
export function limitsConfig(r: Rand, dataDir: string): LimitsConfig {
  const ranges = upTo(r, LIMITS.ranges);
  const setCount = Math.min(ranges, upTo(r, LIMITS.rangeSets));
  const sizes = Array.from({ length: setCount }, () => 1);
  for (let i = setCount; i < ranges; i++) sizes[int(r, 0, setCount - 1)]!++;
  let k = 0;
  const sets = sizes.map((n) => {
    const family: Family = r() < 0.5 ? 4 : 6;
    const tight = n === 1 && r() < 0.25;
    return Array.from({ length: n }, () => rangeAt(r, family, k++, tight));
  });
  // Now and then an IPv6 range that runs into the IPv4-mapped block (::ffff:0:0/96), which is never handed out.
  const v6 = sets.find((set) => set[0]!.subnet.includes(':'));
  if (v6 && r() < 0.25) v6[0] = { subnet: '::/80', rangeStart: '::fffe:ffff:fff8' };
  const budget = r() < 0.1 ? 0 : upTo(r, LIMITS.exclude);
  const exclude: string[] = [];
  const all = sets.flat();
  while (exclude.length < budget) {
    const room = Math.min(budget - exclude.length, int(r, 1, 2500));
    if (r() < 0.05) exclude.push(oneOf(r, ['192.0.2.0/24', '2001:db8::/32', '198.51.100.7', '255.255.255.255']));
    else exclude.push(...excludesIn(r, oneOf(r, all), room));
  }
  const name = idOf(r, upTo(r, LIMITS.networkName));
  const shape = `${sets.length} range sets, ${all.length} ranges (${all.map((x) => x.subnet.split('/')[1]).join(',')}), ${exclude.length} excludes, name of ${name.length}`;
  return {
    conf: { cniVersion: '1.1.0', name, ipam: { type: 'leasehold', dataDir, ranges: sets, exclude: exclude.slice(0, budget), lockTimeoutMs: 60_000 } },
    shape,
  };
}

/**
 * The largest config the validator accepts, fixed (the benchmark's limits row): LIMITS.rangeSets range sets
 * holding LIMITS.ranges ranges, IPv4 /8s and IPv6 /64s in turn; LIMITS.exclude excludes, each /64's first
 * /96 and runs of /24s from the start of each /8 (the two shapes that once made a search step through every
 * excluded address); a network name of LIMITS.networkName characters.
 */
export function worstConfig(dataDir: string): LimitsConfig['conf'] {
  const perSet = LIMITS.ranges / LIMITS.rangeSets;
  const sets: RawRange[][] = [];
  const exclude: string[] = [];
  for (let i = 0; i < LIMITS.rangeSets; i++) {
    const k = (j: number) => i * perSet + j;
    sets.push(Array.from({ length: perSet }, (_, j) => ({ subnet: i % 2 === 0 ? `${k(j) + 1}.0.0.0/8` : `fd00:${k(j).toString(16)}::/64` })));
  }
  const v6 = sets.flat().filter((x) => x.subnet.includes(':'));
  const v4 = sets.flat().filter((x) => !x.subnet.includes(':'));
  for (const x of v6) exclude.push(x.subnet.replace('/64', '/96'));
  const runs = Math.floor((LIMITS.exclude - exclude.length) / v4.length);
  for (const x of v4) {
    const octet = x.subnet.split('.')[0];
    for (let k = 0; k < runs; k++) exclude.push(`${octet}.${k >> 8}.${k & 255}.0/24`);
  }
  for (let k = 0; exclude.length < LIMITS.exclude; k++) exclude.push(`192.0.2.${k}`);
  return { cniVersion: '1.1.0', name: 'w'.repeat(LIMITS.networkName), ipam: { type: 'leasehold', dataDir, ranges: sets, exclude, lockTimeoutMs: 120_000 } };
}
