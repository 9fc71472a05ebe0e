// The lease: what one attachment (container + interface) holds in a network. The allocator and the leak
// rule decide over leases; the store keeps them.
import type { Attachment } from '../base/ids.js';

export const LEASE_FORMAT = 1;

export interface Lease extends Attachment {
  format: typeof LEASE_FORMAT;
  /** Canonical addresses, without prefix: one per range set. */
  addresses: string[];
  podNamespace?: string;
  podName?: string;
  /** The pod's uid (K8S_POD_UID): tells a pod from a later one of the same name. */
  podUid?: string;
  netns: string;
  createdAt: string;
  /** The kernel's boot id at ADD; null for leases adopted from host-local, whose boot is unknown. */
  bootId: string | null;
  adoptedFromHostLocal?: boolean;
  /** Cluster mode: the node that made the attachment. */
  node?: string;
  /** Cluster mode: the machine that node ran on (a hash of its /etc/machine-id); absent in older records. */
  machine?: string;
}
