// Durable file primitives. Every state change is: temp file in the same directory → fsync → rename
// (or link, to claim a name that must not exist yet) → fsync the directory.
import {
  type Stats,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { ioError } from '../../base/errors.js';

const { O_CREAT, O_EXCL, O_WRONLY, O_RDONLY, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = constants;

let tmpSeq = 0;
const tmpName = (dir: string, name: string): string => join(dir, `.${name}.tmp-${process.pid}-${tmpSeq++}`);

function writeTemp(dir: string, name: string, data: string): string {
  const tmp = tmpName(dir, name);
  const fd = openSync(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
  try {
    const buf = Buffer.from(data);
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkQuiet(tmp);
    throw e;
  }
  closeSync(fd);
  return tmp;
}

/** Replaces dir/name with data. The caller fsyncs the directory (once, after a batch). */
export function replaceFile(dir: string, name: string, data: string): void {
  const tmp = writeTemp(dir, name, data);
  try {
    renameSync(tmp, join(dir, name));
  } catch (e) {
    unlinkQuiet(tmp);
    throw e;
  }
}

/**
 * Points the symlink dir/name at target: made under a temp name and renamed over the old one. Its target is
 * part of the inode that symlink(2) creates, so there is nothing to fsync but the directory (the caller's).
 */
export function replaceSymlink(dir: string, name: string, target: string): void {
  const tmp = tmpName(dir, name);
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, join(dir, name));
  } catch (e) {
    unlinkQuiet(tmp);
    throw e;
  }
}

/** A symlink's target; undefined if the name does not exist, any other failure (not a symlink) the caller's. */
export const readlinkIfExists = (path: string): string | undefined => ifExists(() => readlinkSync(path));

/**
 * Creates files holding data under names that must not exist yet: each is a link(2) to one synced temp file,
 * written on the first link, so the names a call makes (the addresses of a dual-stack lease) share one write
 * and one fsync. link() is true when the name was free and false when it exists; close() removes the temp.
 */
export function exclusiveLinker(dir: string, data: string): { link(name: string): boolean; close(): void } {
  let tmp: string | undefined;
  return {
    link(name) {
      tmp ??= writeTemp(dir, name, data);
      try {
        linkSync(tmp, join(dir, name));
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw e;
      }
    },
    close() {
      if (tmp !== undefined) unlinkQuiet(tmp);
    },
  };
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, O_RDONLY | O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * fsyncs dir and every directory above it. A directory that a call made and that was killed before it fsynced
 * the parent is not durable, and a later call sees only that it exists: a file that must be durable, under
 * directories whose maker is not known, needs the whole path synced.
 */
export function fsyncPath(dir: string): void {
  for (let d = dir; ; d = dirname(d)) {
    fsyncDir(d);
    if (d === dirname(d)) return;
  }
}

/** Reads a regular file without following a symlink; undefined if it does not exist. */
export function readIfExists(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EINVAL' });
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** The names in a directory, none if it does not exist; any other failure is code 5 naming it. */
export function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError('listing', dir, e);
  }
}

/** What f returns, or undefined when it fails because a path does not exist; any other failure is the caller's. */
function ifExists<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** lstat, undefined if the path does not exist; any other failure is the caller's. */
export const lstatIfExists = (path: string): Stats | undefined => ifExists(() => lstatSync(path));

export const exists = (path: string): boolean => lstatIfExists(path) !== undefined;

/** Removes a file; a missing file is fine, any other failure is the caller's. */
export function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export function unlinkQuiet(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** mkdir -p whose new directories survive power loss: a new name is durable once its parent is fsynced. */
export function mkdirsDurable(path: string): void {
  const first = mkdirSync(path, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  for (let d = path; ; d = dirname(d)) {
    fsyncDir(dirname(d));
    if (d === first) break;
  }
}

/** A directory that must be a real directory (not a symlink), created 0700 (and made durable) if missing. */
export function ensurePrivateDir(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
    fsyncDir(dirname(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(path);
  if (st.isSymbolicLink()) throw Object.assign(new Error(`${path} is a symbolic link`), { code: 'ELOOP' });
  if (!st.isDirectory()) throw Object.assign(new Error(`${path} is not a directory`), { code: 'ENOTDIR' });
}
