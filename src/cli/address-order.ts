// The order addresses are listed and reported in.
import { tryParseIp } from '../net/ip.js';

/** Orders addresses numerically within a family, IPv4 first. */
export function compareAddresses(a: string | undefined, b: string | undefined): number {
  const [x, y] = [a ? tryParseIp(a) : undefined, b ? tryParseIp(b) : undefined];
  if (!x || !y) return String(a).localeCompare(String(b));
  return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
}
