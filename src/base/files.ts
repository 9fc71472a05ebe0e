// Files a config names and root opens: what each may be is decided by its key (docs/security.md), checked
// here on the open descriptor (fstat), so nothing can be swapped between the check and the use. Opened
// non-blocking, so a FIFO or a device named by a config never hangs a call.
import { type Stats, closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;

export interface FileRule {
  /** Whether the last component may be a symbolic link. */
  followLinks: boolean;
  /**
   * 'secret': owned by root and no permission bit for group or others (as OpenSSH demands of keys);
   * 'root': owned by root and writable by root only; 'any': any owner (still a regular file).
   */
  owner: 'secret' | 'root' | 'any';
  maxBytes: number;
}

/** A key's file that fails its rule: the path and why, as a phrase ("is a symbolic link"), never the contents. */
export class FileRefused extends Error {
  constructor(path: string, why: string) {
    super(`${path} ${why}`);
  }
}

const euid = (): number => process.geteuid?.() ?? 0;
const mode = (st: Stats): string => `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;

let kernelDevs: number[] | undefined;

/** Whether st lives on /proc or /sys, also when reached through a linked directory: root's "files" there are not files. */
function onKernelFs(st: Stats): boolean {
  // Their devices do not change while a process runs: looked up once, not for every file checked.
  kernelDevs ??= ['/proc', '/sys'].flatMap((m) => {
    try {
      return [statSync(m).dev];
    } catch {
      return [];
    }
  });
  return kernelDevs.includes(st.dev);
}

/** Why an open file breaks a rule's owner, or undefined. Root stands for this process's user. */
export function untrusted(st: Stats, owner: FileRule['owner']): string | undefined {
  if (!st.isFile()) return 'is not a regular file';
  if (owner === 'any') return undefined;
  if (onKernelFs(st)) return 'is a kernel interface, not a file';
  if (st.uid !== euid()) return `is owned by uid ${st.uid}, not by ${euid() === 0 ? 'root' : `uid ${euid()}`}`;
  if (owner === 'secret' && st.mode & 0o077) return `can be read or written by group or others (${mode(st)})`;
  if (st.mode & 0o022) return `can be written by group or others (${mode(st)})`;
  return undefined;
}

function errnoWhy(e: unknown, followLinks: boolean): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' && !followLinks) return 'is a symbolic link';
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'cannot be opened (EACCES)';
  return `cannot be read (${code ?? String(e)})`;
}

/** The contents of path, read under rule; FileRefused saying why not. */
export function readByRule(path: string, rule: FileRule): Buffer {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | (rule.followLinks ? 0 : O_NOFOLLOW));
  } catch (e) {
    throw new FileRefused(path, errnoWhy(e, rule.followLinks));
  }
  try {
    const st = fstatSync(fd);
    const why = untrusted(st, rule.owner);
    if (why) throw new FileRefused(path, why);
    if (st.size > rule.maxBytes) throw new FileRefused(path, `is larger than ${rule.maxBytes} bytes`);
    // Read at most one byte past the cap: a file that grows after the fstat is still bounded.
    const buf = Buffer.alloc(rule.maxBytes + 1);
    let n = 0;
    for (let got = 1; got > 0 && n < buf.length; ) {
      got = readSync(fd, buf, n, buf.length - n, null);
      n += got;
    }
    if (n > rule.maxBytes) throw new FileRefused(path, `is larger than ${rule.maxBytes} bytes`);
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof FileRefused) throw e;
    throw new FileRefused(path, errnoWhy(e, rule.followLinks));
  } finally {
    closeSync(fd);
  }
}
