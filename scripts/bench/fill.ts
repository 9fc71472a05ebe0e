// Fills a network directory with N leases directly in each plugin's own on-disk format, so the benchmark can
// measure ADD/DEL at 60,000 leases without 60,000 process spawns. Uses leasehold's own format helpers.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIp } from '../../src/net/ip';
import { readBootId } from '../../src/base/host';
import { LEASES_DIR, STATE_FILE, claimContent } from '../../src/store/disk/layout';
import { leaseFileName } from '../../src/store/node/names';
import { LEASE_FORMAT, type Lease } from '../../src/store/lease';
import { STATE_FORMAT } from '../../src/store/state';

/** The i-th address of 10.200.0.0/16 after the gateway (.0.1): .0.2, .0.3, … */
const nth = (i: number): string => formatIp({ family: 4, value: (10n << 24n) | (200n << 16n) | BigInt(i + 2) });

export function fillLeasehold(netDir: string, network: string, n: number): void {
  mkdirSync(join(netDir, LEASES_DIR), { recursive: true, mode: 0o700 });
  const bootId = readBootId();
  const createdAt = new Date().toISOString();
  for (let i = 0; i < n; i++) {
    const containerID = `fill${i.toString(16).padStart(60, '0')}`;
    const lease: Lease = {
      format: LEASE_FORMAT,
      containerID,
      ifname: 'eth0',
      addresses: [nth(i)],
      netns: `/var/run/netns/cni-${i}`,
      createdAt,
      bootId,
      podNamespace: 'default',
      podName: `fill-${i}`,
    };
    writeFileSync(join(netDir, LEASES_DIR, leaseFileName(containerID, 'eth0')), `${JSON.stringify(lease)}\n`, { mode: 0o600 });
    writeFileSync(join(netDir, nth(i)), claimContent({ containerID, ifname: 'eth0' }), { mode: 0o600 });
  }
  const cursors = n > 0 ? { '0': nth(n - 1) } : {};
  writeFileSync(join(netDir, STATE_FILE), `${JSON.stringify({ format: STATE_FORMAT, network, cursors })}\n`, { mode: 0o600 });
}

export function fillHostLocal(netDir: string, n: number): void {
  mkdirSync(netDir, { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(netDir, nth(i)), `fill${i.toString(16).padStart(60, '0')}\r\neth0`);
  if (n > 0) writeFileSync(join(netDir, 'last_reserved_ip.0'), nth(n - 1));
}
