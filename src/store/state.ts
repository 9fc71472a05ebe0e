// The network state document (leasehold.json on disk): its format and the round-robin cursors. One decoder
// for every reader, so a cursor that is not an address means the same everywhere: it is ignored (round-robin
// restarts at the range's start) and reported by `leasehold check`, never a crash.
import { digitsValue } from '../base/digits.js';
import { type Ip, canonicalIp, tryParseIp } from '../net/ip.js';
import { decodeVersioned } from './lease.js';

export const STATE_FORMAT = 1;

export interface NetworkState {
  format: typeof STATE_FORMAT;
  network: string;
  /** Last address handed out per range set index (round-robin position), canonical. */
  cursors: Record<string, string>;
}

export type StateView =
  | { status: 'ok'; value: NetworkState /** Cursors dropped because they are not addresses. */; ignoredCursors: Record<string, string> }
  | { status: 'missing' }
  | { status: 'unreadable'; why: string /** The file or key that could not be read. */; path: string };

export const emptyState = (network: string): NetworkState => ({ format: STATE_FORMAT, network, cursors: {} });

/** `stored`: cursors a backend keeps beside the document (the disk's cursors link); they win over the document's. */
export function decodeState(text: string, stored: Record<string, string> = {}): Extract<StateView, { status: 'ok' }> | string {
  const v = decodeVersioned<NetworkState>(text, 'state', STATE_FORMAT);
  if (typeof v === 'string') return v;
  if (typeof v.cursors !== 'object' || v.cursors === null || Array.isArray(v.cursors)) return 'missing cursors';
  const cursors: Record<string, string> = {};
  const ignoredCursors: Record<string, string> = {};
  for (const [k, text] of Object.entries({ ...v.cursors, ...stored })) {
    const ip = typeof text === 'string' && digitsValue(k, 10) !== undefined ? tryParseIp(text) : undefined;
    if (ip) cursors[k] = canonicalIp(text as string);
    else ignoredCursors[k] = String(text).slice(0, 80);
  }
  return { status: 'ok', value: { format: STATE_FORMAT, network: String(v.network ?? ''), cursors }, ignoredCursors };
}

export const encodeState = (state: NetworkState): string => `${JSON.stringify(state)}\n`;

/** The cursor of each of `count` range sets, as the allocator takes them. */
export const cursorIps = (cursors: Record<string, string>, count: number): Array<Ip | undefined> =>
  Array.from({ length: count }, (_, i) => {
    const text = cursors[String(i)];
    return text === undefined ? undefined : tryParseIp(text);
  });
