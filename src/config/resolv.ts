// resolvConf: a resolv.conf-format file whose nameserver/domain/search/options become the result's dns. Any
// regular file (links followed: /etc/resolv.conf often is one; any owner: a resolver daemon often writes it),
// since only those four keys' words leave it.
import { CniError, Code } from '../base/errors.js';
import { FileRefused, readByRule } from '../base/files.js';

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export function parseResolvConf(text: string): Dns {
  const dns: Dns = {};
  for (const line of text.split('\n')) {
    const words = line
      .replace(/[#;].*$/, '')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    const [key, ...rest] = words;
    if (!key || rest.length === 0) continue;
    if (key === 'nameserver') dns.nameservers = [...(dns.nameservers ?? []), rest[0]!];
    else if (key === 'domain') dns.domain = rest[0]!;
    else if (key === 'search') dns.search = rest;
    else if (key === 'options') dns.options = [...(dns.options ?? []), ...rest];
  }
  return dns;
}

export function readResolvConf(path: string): Dns {
  try {
    return parseResolvConf(readByRule(path, { followLinks: true, owner: 'any', maxBytes: 1 << 20 }).toString('utf8'));
  } catch (e) {
    if (!(e instanceof FileRefused)) throw e;
    throw new CniError(Code.InvalidConfig, `ipam.resolvConf ${e.message}; name a regular file of at most 1 MiB, or remove the key`);
  }
}
