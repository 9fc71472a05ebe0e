// The single executable's Node-API addon (native/flock.c and native/socket.c), embedded as a SEA asset and
// loaded from an unnamed O_TMPFILE in a directory of the caller's (nothing is left on disk). A plain
// script build has no addon, and a noexec mount cannot map one: callers then use their fallbacks.
import { closeSync, constants, openSync, writeSync } from 'node:fs';

export interface NativeAddon {
  /** LOCK_EX, waiting in the kernel up to timeoutMs: true when taken, false when the wait timed out. */
  lock(fd: number, timeoutMs: number): boolean;
  /** Runs this thread 10 nice steps higher; the value to restore, or null when not allowed (no CAP_SYS_NICE). */
  raisePriority(): number | null;
  setNice(nice: number): void;
  /** A connected stream socket to an IP literal and port, or to an absolute unix socket path. */
  connect(host: string, port: number, timeoutMs: number): number;
  send(fd: number, data: Buffer, timeoutMs: number): void;
  /** What arrived; empty when the peer closed. */
  recv(fd: number, timeoutMs: number): Buffer;
  /** Whether the connection is open with nothing to read (a pooled socket is checked before reuse). */
  idle(fd: number): boolean;
  close(fd: number): void;
}

const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

let addon: NativeAddon | null | undefined;

/**
 * The addon, loaded once per process from `dir` of its first caller (the network's lock, from the network's
 * directory; the plugin's etcd sockets, from the data dir, when no lock came first); null (reported once, to
 * the caller whose load failed) when it cannot be had here.
 */
export function loadNative(dir: string, onFail: (why: string) => void): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  let fd = -1;
  try {
    const sea = require('node:sea') as typeof import('node:sea');
    if (!sea.isSea()) return addon;
    fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o700);
    // A short write (a full disk) must not reach dlopen: mapping past the end of the file is SIGBUS.
    const bytes = new Uint8Array(sea.getRawAsset('native.node') as ArrayBuffer);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    const mod = { exports: {} as NativeAddon };
    process.dlopen(mod, `/proc/self/fd/${fd}`);
    addon = mod.exports;
  } catch (e) {
    onFail((e as Error).message);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  return addon;
}

/** The addon if this process has loaded it already: a reader's lock, which must not load it into the directory. */
export const loadedNative = (): NativeAddon | null => addon ?? null;
