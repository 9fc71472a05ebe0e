// The ADD result in the shape each spec version defines. IPAM plugins report addresses, routes and DNS;
// interfaces belong to the calling plugin.
import type { Dns } from '../config/resolv.js';
import type { RawRoute } from '../config/schema.js';
import { type Family, parseCidr } from '../net/ip.js';
import { atLeast } from '../base/versions.js';

export interface IpConfig {
  family: Family;
  /** address/prefix */
  address: string;
  gateway: string;
}

export interface IpamResult {
  ips: IpConfig[];
  routes: RawRoute[];
  dns: Dns | undefined;
}

function routeFor(version: string, r: RawRoute): Record<string, unknown> {
  // Route attributes beyond dst/gw exist from 1.1.0 on; older callers must not see them.
  if (atLeast(version, '1.1.0')) return r;
  return r.gw === undefined ? { dst: r.dst } : { dst: r.dst, gw: r.gw };
}

export function formatResult(version: string, res: IpamResult): Record<string, unknown> {
  const dns = res.dns ?? {};
  if (!atLeast(version, '0.3.0')) {
    const legacy: Record<string, unknown> = { cniVersion: version };
    for (const fam of [4, 6] as const) {
      const ip = res.ips.find((i) => i.family === fam);
      if (!ip) continue;
      const routes = res.routes.filter((r) => parseCidr(r.dst).ip.family === fam).map((r) => routeFor(version, r));
      legacy[`ip${fam}`] = { ip: ip.address, gateway: ip.gateway, ...(routes.length ? { routes } : {}) };
    }
    legacy.dns = dns;
    return legacy;
  }
  const withVersion = !atLeast(version, '1.0.0');
  return {
    cniVersion: version,
    ips: res.ips.map((i) => (withVersion ? { version: String(i.family), address: i.address, gateway: i.gateway } : { address: i.address, gateway: i.gateway })),
    routes: res.routes.map((r) => routeFor(version, r)),
    dns,
  };
}
