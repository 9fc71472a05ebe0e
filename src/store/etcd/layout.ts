// Where cluster mode keeps a pool in etcd. Everything of one installation lives under `prefix`:
//
//   <prefix>/pools/<pool>/addresses/v4/<8 hex digits>     one key per held address; value: its holder
//   <prefix>/pools/<pool>/addresses/v6/<32 hex digits>
//   <prefix>/networks/<network>/leases/<containerID>/<ifname>   one lease record per attachment (the Lease JSON)
//   <prefix>/networks/<network>/state                           round-robin cursors (the NetworkState JSON)
//   <prefix>/nodes/<node>/<network>/<containerID>/<ifname>      per-node index of attachments; value empty
//   <prefix>/seen/<node>                                        when the node last changed the pool: {"at": ISO}
//   <prefix>/machines/<node>                                    the machine that uses the name (NodeIdentity)
//   <prefix>/networks/<network>/holds/<namespace>/<name>/<ifname>  a deleted pod's hold (ipam.sticky): the Hold JSON;
//                                                               its address keys stay, naming the hold (holdMarker)
//   <prefix>/pools/<pool>/cooling/v4/<8 hex digits>             a cooling address (ipam.reuseCooldownSeconds); value:
//   <prefix>/pools/<pool>/cooling/v6/<32 hex digits>            when its cooldown ends (ISO)
//
// Addresses are fixed-width hex of the address's integer, so key order is address order and a keys-only read
// of [addressKey(a), addressKey(b + 1)) is exactly the taken addresses of a range. Address keys belong to the
// pool, not the network, so networks that name one pool never hold one address twice, even with overlapping
// ranges. Pool, network and container ids are checked ids (no "/"); the node name is checked likewise, and
// the ifname is percent-encoded.
import type { HoldKey } from '../../allocator/reuse.js';
import { type Attachment, isValidId } from '../../base/ids.js';
import { type Family, type Ip, bitsOf, formatIp } from '../../net/ip.js';

export interface ClusterNames {
  /** As config/cluster.ts normalized it: starts with "/", no trailing slash. */
  prefix: string;
  pool: string;
  network: string;
  node: string;
}

/** Who holds an address key: deterministic JSON, so a guarded delete can compare the value byte for byte. */
export interface Holder extends Attachment {
  network: string;
}

export const encodeHolder = (h: Holder): string => JSON.stringify({ network: h.network, containerID: h.containerID, ifname: h.ifname });

export function decodeHolder(text: string): Holder | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v?.network === 'string' && typeof v.containerID === 'string' && typeof v.ifname === 'string'
      ? { network: v.network, containerID: v.containerID, ifname: v.ifname }
      : undefined;
  } catch {
    return undefined;
  }
}

/** One entry of a node's index: that node made the attachment's record. */
export interface IndexEntry extends Attachment {
  node: string;
  network: string;
}

/** The value of a node's seen key. */
export const encodeSeen = (at: string): string => JSON.stringify({ at });

export function decodeSeen(text: string): string | undefined {
  try {
    const at = JSON.parse(text)?.at;
    return typeof at === 'string' && !Number.isNaN(Date.parse(at)) ? at : undefined;
  } catch {
    return undefined;
  }
}

const hexWidth = (family: Family): number => bitsOf(family) / 4;
const hexOf = (ip: Ip): string => ip.value.toString(16).padStart(hexWidth(ip.family), '0');

/** The address a key under prefixOf(family) names in fixed-width hex, or undefined. */
function ipUnder(key: string, prefixOf: (family: Family) => string): Ip | undefined {
  for (const family of [4, 6] as const) {
    const p = prefixOf(family);
    const hex = key.startsWith(p) ? key.slice(p.length) : '';
    if (hex.length === hexWidth(family) && /^[0-9a-f]+$/.test(hex)) return { family, value: BigInt(`0x${hex}`) };
  }
  return undefined;
}

export class ClusterLayout {
  readonly prefix: string;

  constructor(readonly names: ClusterNames) {
    this.prefix = names.prefix;
    for (const [what, id] of [
      ['pool', names.pool],
      ['network', names.network],
      ['nodeName', names.node],
    ] as const) {
      if (!isValidId(id)) throw new Error(`${what} "${id}" may hold only letters, digits, "_", "." and "-", starting with a letter or digit`);
    }
  }

  /** Every address key of one family in the pool starts with this. */
  addressPrefix(family: Family): string {
    return `${this.prefix}/pools/${this.names.pool}/addresses/v${family}/`;
  }

  addressKey(ip: Ip): string {
    return this.addressPrefix(ip.family) + hexOf(ip);
  }

  /** The address an address key names, or undefined for a key that is not one. */
  addressOf(key: string): Ip | undefined {
    return ipUnder(key, (family) => this.addressPrefix(family));
  }

  /** Every cooling key of the pool starts with this; one family's with coolingPrefix() + `v4/` or `v6/`. */
  coolingPrefix(): string {
    return `${this.prefix}/pools/${this.names.pool}/cooling/`;
  }

  coolingKey(ip: Ip): string {
    return `${this.coolingPrefix()}v${ip.family}/${hexOf(ip)}`;
  }

  coolingAddressOf(key: string): Ip | undefined {
    return ipUnder(key, (family) => `${this.coolingPrefix()}v${family}/`);
  }

  holdsPrefix(network = this.names.network): string {
    return `${this.networkPrefix(network)}holds/`;
  }

  holdKey(k: HoldKey, network = this.names.network): string {
    return `${this.holdsPrefix(network)}${[k.namespace, k.name, k.ifname].map(encodeURIComponent).join('/')}`;
  }

  /** What a held address's key holds: the hold, not an attachment (decodeHolder reads it as no holder). */
  holdMarker(k: HoldKey, network = this.names.network): string {
    return JSON.stringify({ network, hold: { namespace: k.namespace, name: k.name, ifname: k.ifname } });
  }

  /** [key, rangeEnd) covering the address keys of first..last, for a range read. */
  addressSpan(family: Family, first: bigint, last: bigint): { key: string; rangeEnd: string } {
    const max = (1n << BigInt(bitsOf(family))) - 1n;
    const key = this.addressKey({ family, value: first });
    // Past the family's last address the span ends where the family's keys end ("0" follows "/").
    const rangeEnd = last >= max ? `${this.addressPrefix(family).slice(0, -1)}0` : this.addressKey({ family, value: last + 1n });
    return { key, rangeEnd };
  }

  networkPrefix(network = this.names.network): string {
    return `${this.prefix}/networks/${network}/`;
  }

  leasesPrefix(network = this.names.network): string {
    return `${this.networkPrefix(network)}leases/`;
  }

  leaseKey(att: Attachment, network = this.names.network): string {
    return `${this.leasesPrefix(network)}${att.containerID}/${encodeURIComponent(att.ifname)}`;
  }

  stateKey(network = this.names.network): string {
    return `${this.networkPrefix(network)}state`;
  }

  /** The node's index entries, of one network or (without) of all. */
  nodePrefix(node = this.names.node, network?: string): string {
    return `${this.prefix}/nodes/${node}/${network === undefined ? '' : `${network}/`}`;
  }

  nodeIndexKey(att: Attachment, node = this.names.node, network = this.names.network): string {
    return `${this.nodePrefix(node, network)}${att.containerID}/${encodeURIComponent(att.ifname)}`;
  }

  /** Written by every claim and release a node makes: an operator can tell a node gone from one at work. */
  seenKey(node = this.names.node): string {
    return `${this.seenPrefix()}${node}`;
  }

  /**
   * The machine that uses this node name: written once, by the name's first claim; every later claim compares
   * it, so a second machine under the same name is refused instead of acting on the first one's leases.
   */
  machineKey(node = this.names.node): string {
    return `${this.prefix}/machines/${node}`;
  }

  seenPrefix(): string {
    return `${this.prefix}/seen/`;
  }

  /** Every node's index entries start with this. */
  nodesPrefix(): string {
    return `${this.prefix}/nodes/`;
  }

  /** The entry an index key names, or undefined for a key that is not one. */
  indexEntryOf(key: string): IndexEntry | undefined {
    if (!key.startsWith(this.nodesPrefix())) return undefined;
    const parts = key.slice(this.nodesPrefix().length).split('/');
    if (parts.length !== 4 || parts.some((p) => p === '')) return undefined;
    const [node, network, containerID, ifname] = parts as [string, string, string, string];
    try {
      return { node, network, containerID, ifname: decodeURIComponent(ifname) };
    } catch {
      return undefined;
    }
  }

  holder(att: Attachment, network = this.names.network): Holder {
    return { network, containerID: att.containerID, ifname: att.ifname };
  }

  /** For messages. */
  describeAddressKey(key: string): string {
    const ip = this.addressOf(key);
    return ip ? formatIp(ip) : key;
  }
}
