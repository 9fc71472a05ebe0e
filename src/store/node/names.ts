// Names on the node's disk that both backends use in a network's directory, <dataDir>/<network>/: the lock
// (the disk store's and the cluster store's, shared with host-local) and the file name of an attachment's
// record (the disk store's leases/ and the cluster store's journal of releases).

export const LOCK_FILE = 'lock';

/** File name of an attachment's record. Long or unusual ids are hashed to stay within NAME_MAX. */
export function leaseFileName(containerID: string, ifname: string): string {
  const plain = `${containerID}@${encodeURIComponent(ifname)}.json`;
  if (plain.length <= 200) return plain;
  // node:crypto is slow to load (docs/performance.md), so only ids too long for a file name pay for it.
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  return `h-${createHash('sha256').update(`${containerID}\0${ifname}`).digest('hex')}.json`;
}
