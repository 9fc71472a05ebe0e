// What a config key that names a path may name (docs/security.md). The config can be written by a namespace's
// users (a Multus NetworkAttachmentDefinition) while leasehold runs as root: every such key is an absolute
// path out of the kernel's trees, and the keys leasehold writes under stay out of the system's own trees too.
import { normalize } from 'node:path';
import { CniError, Code } from '../base/errors.js';

/** Trees where root-owned files steer the system (configuration, programs, the boot, root's home). */
const SYSTEM_TREES = ['/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot', '/root'];

const shown = (v: string): string => JSON.stringify(v.slice(0, 200));

/** The kernel's interfaces: their "files" are a process's environment, devices, ring buffers, never a config's file. */
const KERNEL_TREES = ['/proc', '/sys', '/dev'];

const under = (path: string, trees: string[]): string | undefined => trees.find((t) => path === t || path.startsWith(`${t}/`));

/** `key`'s value as a normalized absolute path outside the kernel's trees, or code 7. */
export function absolutePath(key: string, v: string): string {
  if (!v.startsWith('/') || v.includes('\0')) throw new CniError(Code.InvalidConfig, `${key} ${shown(v)} must be an absolute path`);
  const path = normalize(v);
  const tree = under(path, KERNEL_TREES);
  if (tree) throw new CniError(Code.InvalidConfig, `${key} ${shown(v)} is in ${tree}, the kernel's, not a file of the node's: name a regular file`);
  return path;
}

/** A path leasehold creates and writes files under: absolute, and not in a system tree nor the root itself. */
export function writablePath(key: string, v: string, example: string): string {
  const path = absolutePath(key, v);
  const tree = path === '/' ? '/' : under(path, SYSTEM_TREES);
  if (tree) {
    throw new CniError(
      Code.InvalidConfig,
      `${key} ${shown(v)} is in ${tree}, where files of leasehold's would sit among the system's: name a place of its own, such as ${example}`,
    );
  }
  return path;
}
