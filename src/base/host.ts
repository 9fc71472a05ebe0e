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

/**
 * This machine, for cluster mode: what tells two machines apart when they carry the same host name (or the
 * same configured nodeName). Derived from /etc/machine-id (as systemd asks of applications: a keyed hash, never
 * the id itself, which goes into etcd); null when the machine has none.
 */
export function readMachineId(): string | null {
  for (const path of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    let id: string;
    try {
      id = readFileSync(path, 'latin1').trim();
    } catch {
      continue;
    }
    if (!/^[0-9a-f]{32}$/.test(id)) continue;
    // node:crypto only in cluster mode: the disk path never pays for it.
    const { createHmac } = require('node:crypto') as typeof import('node:crypto');
    return createHmac('sha256', id).update('leasehold cluster node').digest('hex').slice(0, 32);
  }
  return null;
}
