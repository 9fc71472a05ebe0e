// Pod-aware reuse of freed addresses, decided with no I/O: a hold keeps a deleted pod's addresses for the next
// attachment of the same pod identity (ipam.sticky), and a cooldown keeps a freed address from the next pod
// while other addresses are free (ipam.reuseCooldownSeconds). Times are ISO strings from isoTime, which sort
// as they compare, so no Date is made on the plugin path.
import { type Ip, tryParseIp } from '../net/ip.js';
import { type RangeSet, inRange } from '../net/range.js';

export const HOLD_FORMAT = 1;

/** Who a hold is for: one interface of one pod identity, whatever its container id. */
export interface HoldKey {
  namespace: string;
  name: string;
  ifname: string;
}

/** A deleted attachment's addresses, kept for the next attachment of the same pod until `until`. */
export interface Hold extends HoldKey {
  format: typeof HOLD_FORMAT;
  /** Canonical addresses, without prefix. */
  addresses: string[];
  /** When the DEL that made the hold ran, and when the hold ends (ISO times). */
  releasedAt: string;
  until: string;
  /** The deleted attachment's container, for the operator. */
  containerID: string;
  /** Cluster mode: the node whose DEL made the hold. */
  node?: string;
}

/** A freed address that the next pod gets only when nothing else is free, until `until`. */
export interface Cooling {
  address: string;
  until: string;
}

/** What the allocator knows of holds and cooldowns, for one ADD (or STATUS, with no pod). */
export interface ReuseFacts {
  /** Now, as an ISO time: holds and cooldowns that end by then are over. */
  now: string;
  /** The pod the ADD is for, when CNI_ARGS named it. */
  pod?: HoldKey;
  holds: Hold[];
  cooling: Cooling[];
}

export const podName = (k: { namespace: string; name: string }): string => `${k.namespace}/${k.name}`;
export const sameHoldKey = (a: HoldKey, b: HoldKey): boolean => a.namespace === b.namespace && a.name === b.name && a.ifname === b.ifname;
export const isLive = (e: { until: string }, now: string): boolean => e.until > now;

/** The pod's own hold, live or not: its addresses come back if nobody took them meanwhile. */
export const ownHold = (f: ReuseFacts | undefined): Hold | undefined => (f?.pod ? f.holds.find((h) => sameHoldKey(h, f.pod!)) : undefined);

const parsed = (addresses: string[]): Ip[] => addresses.flatMap((a) => tryParseIp(a) ?? []);

const ipText = (ip: Ip): string => `${ip.family}/${ip.value}`;

/** The rules of one ADD, indexed for the allocator's walk. */
export class ReuseRules {
  /** Live holds of other pods, by address. */
  private readonly heldBy = new Map<string, Hold>();
  /** Live cooldowns, by address. */
  private readonly coolingUntil = new Map<string, string>();
  /** The pod's own hold's addresses. */
  readonly own: Ip[];
  private readonly coolingIps: Array<{ ip: Ip; until: string }> = [];
  private readonly heldIps: Array<{ ip: Ip; hold: Hold }> = [];

  constructor(facts: ReuseFacts | undefined) {
    const mine = ownHold(facts);
    this.own = parsed(mine?.addresses ?? []);
    if (!facts) return;
    for (const h of facts.holds) {
      if (h === mine || !isLive(h, facts.now)) continue;
      for (const ip of parsed(h.addresses)) {
        this.heldBy.set(ipText(ip), h);
        this.heldIps.push({ ip, hold: h });
      }
    }
    for (const c of facts.cooling) {
      if (!isLive(c, facts.now)) continue;
      for (const ip of parsed([c.address])) {
        this.coolingUntil.set(ipText(ip), c.until);
        this.coolingIps.push({ ip, until: c.until });
      }
    }
    this.coolingIps.sort((a, b) => (a.until < b.until ? -1 : a.until > b.until ? 1 : 0));
  }

  /** The live hold of another pod on this address, if any. */
  holdOn(ip: Ip): Hold | undefined {
    return this.heldBy.get(ipText(ip));
  }

  isCooling(ip: Ip): boolean {
    return this.coolingUntil.has(ipText(ip));
  }

  /** Cooling addresses of the set, the one whose cooldown ends first first. */
  coolingIn(set: RangeSet): Ip[] {
    return this.coolingIps.filter((c) => set.some((r) => inRange(r, c.ip))).map((c) => c.ip);
  }

  /** Live holds of other pods on addresses of the set: how many addresses, and when the first of them frees. */
  heldIn(set: RangeSet): { count: number; firstEnd: string | undefined } {
    let count = 0;
    let firstEnd: string | undefined;
    for (const { ip, hold } of this.heldIps) {
      if (!set.some((r) => inRange(r, ip))) continue;
      count++;
      if (firstEnd === undefined || hold.until < firstEnd) firstEnd = hold.until;
    }
    return { count, firstEnd };
  }
}

/** The words every message about held addresses uses. */
export const describeHeld = (held: { count: number; firstEnd: string | undefined }): string =>
  held.count === 0
    ? ''
    : `; ${held.count} of them ${held.count === 1 ? 'is' : 'are'} held for deleted pods (ipam.sticky), the first until ${held.firstEnd} ` +
      '(leasehold list shows them; leasehold release --hold NAMESPACE/NAME ends one)';
