// Names that become file names or etcd keys: container ids, network names and interface names.

// Same rule as libcni's ValidateContainerID and network-name check, with a length bound of our own.
const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_ID = 1024;

/** A container id or network name that is safe to use as (part of) a file name. */
export const isValidId = (id: string): boolean => id.length <= MAX_ID && ID_PATTERN.test(id);

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
