// Process-level I/O and time without Node's lazy machinery: the first touch of process.stdout builds a
// stream stack and the first use of `performance` loads perf_hooks (both measured in docs/performance.md).
// A CNI call writes one small document and reads a clock a few times.
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

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * `new Date(ms).toISOString()` without a Date: V8 loads the time zone (/etc/localtime and ICU's tables) on the
 * first Date it makes, a cost every ADD paid, and a lease's time is UTC anyway. Civil date from the day number
 * by Howard Hinnant's algorithm (days_from_civil, inverted), for years 0000-9999. A fraction of a millisecond
 * (an lstat mtimeMs) is dropped toward zero, as Date does.
 */
export function isoTime(at: number = Date.now()): string {
  const ms = Math.trunc(at);
  const day = Math.floor(ms / 86_400_000);
  const inDay = ms - day * 86_400_000;
  const z = day + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const date = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const time = `${pad(Math.floor(inDay / 3_600_000))}:${pad(Math.floor(inDay / 60_000) % 60)}:${pad(Math.floor(inDay / 1000) % 60)}.${pad(inDay % 1000, 3)}`;
  return `${pad(year, 4)}-${pad(month)}-${pad(date)}T${time}Z`;
}
