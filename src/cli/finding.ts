// One finding of check (and what gc frees): its shape, and how a lease's holder is named in its detail.
import type { Leak } from '../allocator/leaks.js';
import { shortId } from './format.js';

export type FindingKind =
  | 'state-unreadable'
  | 'cursor-ignored'
  | 'record-unreadable'
  | 'duplicate-address'
  | 'claim-missing'
  | 'outside-range'
  | 'stale-boot'
  | 'netns-gone'
  | 'not-imported'
  | 'orphan-claim'
  | 'index-missing'
  | 'index-orphan'
  | 'node-silent'
  | 'node-name-clash'
  | 'hold-expired';

export interface Finding {
  network: string;
  kind: FindingKind;
  detail: string;
  /** The addresses concerned (all of a lease's for lease findings); empty for unreadable files. */
  addresses: string[];
  containerID: string | null;
  ifname: string | null;
  path: string | null;
  /** Set when gc may free it (the leak rule says freeable). */
  leak?: Leak;
}

/** A finding with the fields it does not concern set to null. */
export const finding = (f: Pick<Finding, 'network' | 'kind' | 'detail'> & Partial<Finding>): Finding => ({
  network: f.network,
  kind: f.kind,
  detail: f.detail,
  addresses: f.addresses ?? [],
  containerID: f.containerID ?? null,
  ifname: f.ifname ?? null,
  path: f.path ?? null,
  ...(f.leak ? { leak: f.leak } : {}),
});

/** A holder as findings name it: short container id and interface. */
export const who = (l: { containerID: string; ifname: string }): string => `${shortId(l.containerID)}/${l.ifname}`;
