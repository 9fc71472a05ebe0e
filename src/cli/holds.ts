// Holds (ipam.sticky) and cooldowns (ipam.reuseCooldownSeconds) as the operator sees them: rows for list,
// counts per range for status and metrics, expired holds for check and gc, and ending them. Pure over a
// snapshot, except the two that free under the session's lock.
import { type Cooling, type Hold, isLive, podName } from '../allocator/reuse.js';
import { isoTime } from '../base/proc.js';
import type { NetworkSession } from '../store/store.js';
import type { NetworkSnapshot } from './snapshot.js';

/** One held or cooling address, as list shows it. */
export interface ReuseRow {
  network: string;
  address: string;
  kind: 'held' | 'cooling';
  /** The pod a hold is for ("<namespace>/<name>"), and its interface; null for a cooldown. */
  pod: string | null;
  ifname: string | null;
  /** The deleted container a hold comes from; null for a cooldown. */
  containerID: string | null;
  until: string;
  /** False once the end has passed (a hold gc frees, a cooldown that no longer delays anything). */
  live: boolean;
}

export function reuseRows(snap: NetworkSnapshot, nowMs: number): ReuseRow[] {
  const now = isoTime(nowMs);
  const held = snap.holds.flatMap((h) =>
    h.addresses.map(
      (address): ReuseRow => ({
        network: snap.network,
        address,
        kind: 'held',
        pod: podName(h),
        ifname: h.ifname,
        containerID: h.containerID,
        until: h.until,
        live: isLive(h, now),
      }),
    ),
  );
  const cooling = snap.cooling.map(
    (c): ReuseRow => ({
      network: snap.network,
      address: c.address,
      kind: 'cooling',
      pod: null,
      ifname: null,
      containerID: null,
      until: c.until,
      live: isLive(c, now),
    }),
  );
  return [...held, ...cooling];
}

/** Holds whose end has passed and that nobody ended yet: gc frees them. */
export const expiredHolds = (snap: NetworkSnapshot, nowMs: number): Hold[] => snap.holds.filter((h) => !isLive(h, isoTime(nowMs)));
export const expiredCooling = (snap: NetworkSnapshot, nowMs: number): Cooling[] => snap.cooling.filter((c) => !isLive(c, isoTime(nowMs)));

/** The holds of a pod "<namespace>/<name>" (every interface). */
export const podHolds = (snap: NetworkSnapshot, pod: string): Hold[] => snap.holds.filter((h) => podName(h) === pod);

/** Ends holds under the session's lock; returns what each one kept. */
export async function endHolds(session: NetworkSession, holds: Hold[]): Promise<Array<{ hold: Hold; addresses: string[] }>> {
  const out: Array<{ hold: Hold; addresses: string[] }> = [];
  for (const hold of holds) out.push({ hold, addresses: await session.endHold(hold) });
  return out;
}
