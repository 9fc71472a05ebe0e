// leasehold list: one row per lease, with the flags that make gc free it.
import type { Command } from 'commander';
import { compareAddresses } from '../address-order.js';
import { leaseFlags } from '../lease-flags.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { type Act, type CommonOpts, EXIT, addCommonOptions, out, readFacts } from '../context.js';
import { ageOf, ageSeconds, json, pod, shortId, table } from '../format.js';
import { reuseRows } from '../holds.js';
import { unlockedSnapshot } from '../snapshot.js';
import { storesFor } from '../stores.js';

interface ListOpts extends CommonOpts, ConfigOpts {
  node?: string;
  container?: string;
  pod?: string;
  stale?: boolean;
}

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('list')
    .description('one row per lease (addresses, container, interface, pod, age, netns and leak flags), then held and cooling addresses')
    .option('--container <id>', 'only leases of containers whose id starts with this')
    .option('--pod <pod>', 'only leases of this pod: NAMESPACE/NAME, or NAME in any namespace')
    .option('--stale', 'only leases flagged stale-boot or netns-gone, and holds that ended (what gc frees)')
    .option('--node <name>', 'cluster mode: only leases made on this node');
  addConfigOptions(addCommonOptions(cmd)).action(act((opts: ListOpts, c: Command) => list(opts, c)));
}

export async function list(opts: ListOpts, cmd: Command): Promise<number> {
  const facts = readFacts();
  const stores = storesFor(cmd, opts);
  const snaps = [];
  for (const network of await stores.select(opts)) snaps.push(await unlockedSnapshot(stores.of(network), network));
  const rows = snaps.flatMap((snap) =>
    snap.leases
      .map((l) => ({
        network: snap.network,
        addresses: l.addresses,
        containerID: l.containerID,
        ifname: l.ifname,
        podNamespace: l.podNamespace ?? null,
        podName: l.podName ?? null,
        podUid: l.podUid ?? null,
        netns: l.netns,
        createdAt: l.createdAt,
        ageSeconds: ageSeconds(l.createdAt, facts.now),
        bootId: l.bootId,
        adoptedFromHostLocal: l.adoptedFromHostLocal === true,
        node: l.node ?? null,
        flags: leaseFlags(l, facts, snap),
      }))
      .sort((a, b) => compareAddresses(a.addresses[0], b.addresses[0])),
  );
  const matchesPod = (ns: string | null, name: string | null): boolean => {
    if (opts.pod === undefined) return true;
    const [a, b] = opts.pod.includes('/') ? opts.pod.split('/', 2) : [undefined, opts.pod];
    return name === b && (a === undefined || ns === a);
  };
  const shown = rows.filter(
    (r) =>
      (opts.container === undefined || r.containerID.startsWith(opts.container)) &&
      matchesPod(r.podNamespace, r.podName) &&
      (!opts.stale || r.flags.length > 0) &&
      (opts.node === undefined || r.node === opts.node),
  );
  // Held and cooling addresses (ipam.sticky, ipam.reuseCooldownSeconds); --node selects leases only.
  const reserved = snaps
    .flatMap((snap) => reuseRows(snap, facts.now))
    .filter(
      (r) =>
        opts.node === undefined &&
        (opts.container === undefined || (r.containerID ?? '').startsWith(opts.container)) &&
        (opts.pod === undefined || (r.pod !== null && matchesPod(...(r.pod.split('/', 2) as [string, string])))) &&
        (!opts.stale || (r.kind === 'held' && !r.live)),
    )
    .sort((a, b) => compareAddresses(a.address, b.address));
  if (opts.json) {
    out(json({ leases: shown, held: reserved.filter((r) => r.kind === 'held'), cooling: reserved.filter((r) => r.kind === 'cooling') }));
    return EXIT.ok;
  }
  if (shown.length === 0 && reserved.length === 0) {
    out('no leases');
    return EXIT.ok;
  }
  const many = new Set([...shown, ...reserved].map((r) => r.network)).size > 1 || opts.network === undefined;
  const clustered = shown.some((r) => r.node !== null);
  const headers = ['ADDRESS', 'CONTAINER', 'IFNAME', 'POD', 'AGE', ...(clustered ? ['NODE'] : []), 'NETNS', 'FLAGS'];
  const cells = shown.map((r) => [
    r.addresses.join(','),
    shortId(r.containerID),
    r.ifname,
    pod(r.podNamespace ?? undefined, r.podName ?? undefined),
    ageOf(r.createdAt, facts.now),
    ...(clustered ? [r.node ?? '-'] : []),
    r.netns || (r.adoptedFromHostLocal ? '(host-local)' : '-'),
    r.flags.join(',') || '-',
  ]);
  // A held address shows the pod it is kept for and the deleted container it came from.
  for (const r of reserved) {
    cells.push([
      r.address,
      r.containerID ? shortId(r.containerID) : '-',
      r.ifname ?? '-',
      r.pod ?? '-',
      '-',
      ...(clustered ? ['-'] : []),
      '-',
      `${r.kind}${r.live ? ' until' : ', ended'} ${r.until}`,
    ]);
  }
  const networks = [...shown.map((r) => r.network), ...reserved.map((r) => r.network)];
  out(
    many
      ? table(
          ['NETWORK', ...headers],
          cells.map((c, i) => [networks[i]!, ...c]),
        )
      : table(headers, cells),
  );
  return EXIT.ok;
}
