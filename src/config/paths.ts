// What a config key that names a path may name (docs/security.md). The config can be written by a namespace's
// users (a Multus NetworkAttachmentDefinition) while leasehold runs as root: every such key is an absolute
// path, and the keys leasehold writes under stay out of the system's own trees.
import { normalize } from 'node:path';
import { CniError, Code } from '../base/errors.js';

/** Trees where root-owned files steer the system (configuration, programs, kernel interfaces). */
const SYSTEM_TREES = ['/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot', '/dev', '/proc', '/sys', '/root'];

const shown = (v: string): string => JSON.stringify(v.slice(0, 200));

/** `key`'s value as a normalized absolute path, or code 7. */
export function absolutePath(key: string, v: string): string {
  if (!v.startsWith('/') || v.includes('\0')) throw new CniError(Code.InvalidConfig, `${key} ${shown(v)} must be an absolute path`);
  return normalize(v);
}

/** A path leasehold creates and writes files under: absolute, and not in a system tree nor the root itself. */
export function writablePath(key: string, v: string, example: string): string {
  const path = absolutePath(key, v);
  const tree = path === '/' ? '/' : SYSTEM_TREES.find((t) => path === t || path.startsWith(`${t}/`));
  if (tree) {
    throw new CniError(
      Code.InvalidConfig,
      `${key} ${shown(v)} is in ${tree}, where files of leasehold's would sit among the system's: name a place of its own, such as ${example}`,
    );
  }
  return path;
}
