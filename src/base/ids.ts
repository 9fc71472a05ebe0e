// Names that become file names or etcd keys: container ids, network names and interface names.

const MAX_ID = 1024;

const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/**
 * A container id or network name that is safe to use as (part of) a file name: libcni's rule
 * (ValidateContainerID and the network-name check, ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$), with a length bound of our
 * own. Checked by hand: every call checks two ids, and V8 compiles a regular expression to machine code on
 * its second run (docs/performance.md).
 */
export function isValidId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_ID || !isAlnum(id.charCodeAt(0))) return false;
  for (let i = 1; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (!isAlnum(c) && c !== 95 /* _ */ && c !== 46 /* . */ && c !== 45 /* - */) return false;
  }
  return true;
}

/** Why an interface name is unusable (libcni's ValidateInterfaceName), or null. */
export function validateIfname(name: string): string | null {
  if (name === '') return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 bytes';
  if (name === '.' || name === '..') return `may not be "${name}"`;
  if (/[/:\s\0]/.test(name)) return 'may not contain "/", ":", NUL or whitespace';
  return null;
}

/** One attachment of a container to a network: the key of a lease. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

export const sameAttachment = (a: Attachment | undefined, b: Attachment | undefined): boolean =>
  a !== undefined && b !== undefined && a.containerID === b.containerID && a.ifname === b.ifname;

/** A string that identifies an attachment, for sets and maps. */
export const attachmentKey = (a: Attachment): string => `${a.containerID}\0${a.ifname}`;
