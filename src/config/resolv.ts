// resolvConf: a resolv.conf-format file whose nameserver/domain/search/options become the result's dns.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { CniError, Code } from '../base/errors.js';

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
  let text: string;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      if (st.size > 1 << 20) throw Object.assign(new Error('larger than 1 MiB'), { code: 'EFBIG' });
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new CniError(
      Code.InvalidConfig,
      `ipam.resolvConf ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? e}); fix the path or remove the key`,
    );
  }
  return parseResolvConf(text);
}
