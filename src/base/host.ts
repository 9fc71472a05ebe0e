// Facts about this boot of the host, which decide whether a lease can still belong to a running container.
import { readFileSync } from 'node:fs';

/** When this boot started, from /proc/stat's btime. */
export function readBootTimeMs(): number | null {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'));
    return m ? Number(m[1]) * 1000 : null;
  } catch {
    return null;
  }
}

export function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || null;
  } catch {
    return null;
  }
}
