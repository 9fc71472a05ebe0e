// The pod's annotations as containerd's CRI passes them (runtimeConfig["io.kubernetes.cri.pod-annotations"],
// to a plugin that declares that capability): `leasehold.io/ips` names the pod's addresses.
import { CniError, Code } from '../base/errors.js';
import { type Ip, formatIp, parseIp } from '../net/ip.js';
import { IPS_ANNOTATION } from './schema.js';

/** The addresses of `leasehold.io/ips`: comma-separated, at most one per family; code 7 naming the annotation. */
export function annotatedIps(text: string | undefined): Ip[] {
  if (text === undefined) return [];
  const out: Ip[] = [];
  for (const item of text.split(',')) {
    const t = item.trim();
    if (t === '') continue;
    let ip: Ip;
    try {
      ip = parseIp(t);
    } catch (e) {
      throw new CniError(Code.InvalidConfig, `pod annotation ${IPS_ANNOTATION}: ${(e as Error).message}; write one address per family, comma-separated`);
    }
    const other = out.find((o) => o.family === ip.family);
    if (other && other.value !== ip.value) {
      throw new CniError(
        Code.InvalidConfig,
        `pod annotation ${IPS_ANNOTATION} names two IPv${ip.family} addresses, ${formatIp(other)} and ${formatIp(ip)}; a pod gets at most one address per family`,
      );
    }
    if (!other) out.push(ip);
  }
  return out;
}
