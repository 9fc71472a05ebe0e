// leasehold list: one row per lease, with the flags that make gc free it.
import type { Command } from 'commander';
import { compareAddresses, leaseFlags } from '../analysis.js';
import { type ConfigOpts, addConfigOptions } from '../cni-configs.js';
import { type Act, type CommonOpts, EXIT, addCommonOptions, out, readFacts } from '../context.js';
import { ageOf, ageSeconds, json, pod, shortId, table } from '../format.js';
import { peekSnapshot } from '../snapshot.js';
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
    .description('one row per lease: addresses, container, interface, pod, age, netns and leak flags')
    .option('--container <id>', 'only leases of containers whose id starts with this')
    .option('--pod <pod>', 'only leases of this pod: NAMESPACE/NAME, or NAME in any namespace')
    .option('--stale', 'only leases flagged stale-boot or netns-gone (what gc frees)')
    .option('--node <name>', 'cluster mode: only leases made on this node');
  addConfigOptions(addCommonOptions(cmd)).action(act((opts: ListOpts, c: Command) => list(opts, c)));
}

export async function list(opts: ListOpts, cmd: Command): Promise<number> {
  const facts = readFacts();
  const stores = storesFor(cmd, opts);
  const snaps = [];
  for (const network of await stores.select(opts)) snaps.push(await peekSnapshot(stores.of(network), network));
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
  if (opts.json) {
    out(json({ leases: shown }));
    return EXIT.ok;
  }
  if (shown.length === 0) {
    out('no leases');
    return EXIT.ok;
  }
  const many = new Set(shown.map((r) => r.network)).size > 1 || opts.network === undefined;
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
  out(
    many
      ? table(
          ['NETWORK', ...headers],
          cells.map((c, i) => [shown[i]!.network, ...c]),
        )
      : table(headers, cells),
  );
  return EXIT.ok;
}
