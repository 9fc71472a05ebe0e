// Applying leak decisions to a store: shared by ADD's reclaim-when-full, CNI GC and the operator CLI.
import type { Leak } from '../allocator/leaks.js';
import type { NetworkStore } from '../store/network-store.js';

export function releaseLeaks(store: NetworkStore, leaks: Leak[]): string[] {
  const freed: string[] = [];
  for (const leak of leaks) {
    if (leak.lease) freed.push(...store.deleteLease(leak.lease));
    else if (leak.address) {
      store.removeClaim(leak.address);
      freed.push(leak.address);
    }
  }
  return freed;
}
