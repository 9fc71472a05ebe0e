// Process-level I/O and time without Node's lazy machinery: the first touch of process.stdout builds a
// stream stack (~8 ms measured in the single executable) and the first use of `performance` loads
// perf_hooks (~3 ms). A CNI call writes one small document and reads a clock a few times.
import { writeSync } from 'node:fs';

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Writes all of `text` to a descriptor, retrying when a non-blocking pipe is momentarily full. */
export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}
