// Which store holds a network, for the CLI: a network whose config (found with --config or in the CNI config
// directory) has ipam.cluster lives in etcd; every other one in the data directory.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { isValidId } from '../base/ids.js';
import { DiskStore } from '../store/disk/disk-store.js';
import { EtcdStore } from '../store/etcd/etcd-store.js';
import type { Store } from '../store/store.js';
import { type ConfigOpts, type Configs, configsFor } from './cni-configs.js';
import { CliError, type CommonOpts } from './context.js';

export class Stores {
  readonly disk: DiskStore;
  private readonly clustered = new Map<string, EtcdStore>();

  constructor(
    readonly dataDir: string,
    readonly configs: Configs,
  ) {
    this.disk = new DiskStore(dataDir);
  }

  /** The store a network's state is in. */
  of(network: string): Store {
    const conf = this.configs.byNetwork.get(network)?.conf;
    if (!conf?.cluster) return this.disk;
    const s = this.clustered.get(network) ?? new EtcdStore({ cluster: conf.cluster, dataDir: conf.dataDir, sockets: { kind: 'node' } });
    this.clustered.set(network, s);
    return s;
  }

  /** Cluster networks the configs name: their state is in etcd, not in the data directory. */
  get clusterNetworks(): string[] {
    return [...this.configs.byNetwork].filter(([, f]) => f.conf.cluster).map(([n]) => n);
  }

  /**
   * The networks a command works on: --network (which must exist, or be configured) or all of them: those in
   * the data directory, the cluster networks, and with `configured` every configured network.
   */
  async select(opts: CommonOpts, configured = false): Promise<string[]> {
    const known = configured ? [...this.configs.byNetwork.keys()] : this.clusterNetworks;
    if (opts.network !== undefined) {
      if (!isValidId(opts.network)) throw new CliError(`--network ${JSON.stringify(opts.network)} is not a network name`);
      if (!(await this.disk.has(opts.network)) && !known.includes(opts.network)) {
        const found = [...new Set([...(await this.disk.networks()), ...known])];
        throw new CliError(`no network ${opts.network} in ${this.dataDir} (found: ${found.length ? found.join(', ') : 'none'})`);
      }
      return [opts.network];
    }
    return [...new Set([...(await this.disk.networks()), ...known])].sort();
  }

  /** The selected networks that have state (the ones a command can lock, judge and free). */
  async existing(opts: CommonOpts): Promise<string[]> {
    const out: string[] = [];
    for (const n of await this.select(opts)) if (this.clusterNetworks.includes(n) || (await this.disk.has(n))) out.push(n);
    return out;
  }
}

/** The stores of a command, from its --data-dir and its configs. */
export function storesFor(cmd: Command, opts: CommonOpts & ConfigOpts): Stores {
  const { dataDir, configs } = configsFor(cmd, opts);
  return new Stores(resolve(dataDir), configs);
}
