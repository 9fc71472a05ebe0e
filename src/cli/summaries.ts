// The per-network summary that status and metrics show: each selected network, lock-free, with its config.
import type { Command } from 'commander';
import { type NetworkSummary, summarize } from './usage.js';
import type { ConfigOpts } from './cni-configs.js';
import { type CommonOpts, type Facts, readFacts, warn } from './context.js';
import { unlockedSnapshot } from './snapshot.js';
import { storesFor } from './stores.js';

export async function summaries(opts: CommonOpts & ConfigOpts, cmd: Command): Promise<{ dataDir: string; facts: Facts; networks: NetworkSummary[] }> {
  const stores = storesFor(cmd, opts);
  const { dataDir, configs } = stores;
  configs.problems.forEach(warn);
  const facts = readFacts();
  const networks: NetworkSummary[] = [];
  for (const n of await stores.select(opts, true)) networks.push(summarize(await unlockedSnapshot(stores.of(n), n), facts, configs.byNetwork.get(n)));
  return { dataDir, facts, networks };
}
