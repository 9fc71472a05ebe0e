// Names and formats of a network directory on disk, <dataDir>/<network>/:
//   lock            flock target, shared with host-local (node/names.ts)
//   leasehold.json  the network state (format; the round-robin cursors adopted from host-local)
//   cursors         a symlink whose target lists the round-robin cursors by range set: "0=10.88.0.7,1=fd00::7"
//   leases/*.json   one record per attachment (container + ifname), named by leaseFileName (node/names.ts)
//   <address>       a claim per leased address, in host-local's reservation format ("<id>\r\n<ifname>"),
//                   created with link(2) so a name can only be claimed once: no address is ever held twice.
//   last_reserved_ip.<n>  host-local's round-robin position, read when adopting its reservations.
//   holds/*.json    one hold per pod identity and interface (ipam.sticky): a deleted pod's addresses
//   cooling/<address>  a symlink whose target is when the address's cooldown ends (ipam.reuseCooldownSeconds)
import type { HoldKey } from '../../allocator/reuse.js';
import { type Attachment, isValidId, validateIfname } from '../../base/ids.js';
import { isCanonicalIp } from '../../net/ip.js';

export const STATE_FILE = 'leasehold.json';
export const LEASES_DIR = 'leases';
export const CURSORS_LINK = 'cursors';
export const LEGACY_CURSOR = /^last_reserved_ip\.(\d+)$/;
export const HOLDS_DIR = 'holds';
export const COOLING_DIR = 'cooling';

/** File name of a pod's hold: namespace, name and ifname, each percent-encoded, hashed when too long. */
export function holdFileName(k: HoldKey): string {
  const plain = `${encodeURIComponent(k.namespace)}@${encodeURIComponent(k.name)}@${encodeURIComponent(k.ifname)}.json`;
  if (plain.length <= 200 && !plain.startsWith('.')) return plain;
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  return `h-${createHash('sha256').update(`${k.namespace}\0${k.name}\0${k.ifname}`).digest('hex')}.json`;
}

/** host-local's reservation content, kept for claim files so either plugin reads the other's. */
export const claimContent = (a: Attachment): string => `${a.containerID}\r\n${a.ifname}`;

/**
 * The holder a claim names, if it names one that could have made it: ids that are no container id or interface
 * name (a "../" in a hand-written file) name no one, since adopting them would write a record by that name.
 */
export function parseClaim(text: string): Attachment | undefined {
  // host-local writes "id\r\nifname" (older versions the id alone). Split by hand: a regular expression would
  // be compiled to machine code on its second run in a call.
  const [line, ifname = ''] = text.trim().split('\n');
  const containerID = line?.endsWith('\r') ? line.slice(0, -1) : line;
  if (!containerID || !isValidId(containerID)) return undefined;
  const name = ifname.trim();
  return name === '' || validateIfname(name) === null ? { containerID, ifname: name } : undefined;
}

/**
 * The cursors link's target: "<range set>=<address>" for each set, comma-separated. Every ADD replaces it, and
 * as a symlink it costs no file to write and fsync: the fsync of the network directory that makes the claims
 * durable makes it durable too.
 */
export const encodeCursorList = (cursors: Record<string, string>): string =>
  Object.entries(cursors)
    .map(([set, address]) => `${set}=${address}`)
    .join(',');

/**
 * The cursors a link's target lists. Judging them is the state decoder's: an entry without "=" is kept under
 * the link's own name, which is no range set, so that it is reported and ignored like any bad cursor.
 */
export function decodeCursorList(target: string): Record<string, string> {
  const cursors: Record<string, string> = {};
  for (const entry of target.split(',')) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) cursors[CURSORS_LINK] = entry;
    else cursors[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return cursors;
}

/** A claim file is named by an address in canonical form; other names in the directory are not claims. */
export function claimAddress(name: string): string | undefined {
  return /^[0-9a-f.:]+$/i.test(name) && isCanonicalIp(name) ? name : undefined;
}
