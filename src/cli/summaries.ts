// The per-network summary that status and metrics show: each selected network, lock-free, with its config.
import type { Command } from 'commander';
import { type NetworkSummary, summarize } from './analysis.js';
import { type ConfigOpts, configsFor } from './cni-configs.js';
import { type CommonOpts, type Facts, readFacts, selectNetworks, storeOf, warn } from './context.js';
import { peekSnapshot } from './snapshot.js';

export async function summaries(opts: CommonOpts & ConfigOpts, cmd: Command): Promise<{ dataDir: string; facts: Facts; networks: NetworkSummary[] }> {
  const { dataDir, configs } = configsFor(cmd, opts);
  configs.problems.forEach(warn);
  const facts = readFacts();
  const store = storeOf({ dataDir });
  const networks: NetworkSummary[] = [];
  for (const n of await selectNetworks(store, { ...opts, dataDir }, [...configs.byNetwork.keys()])) {
    networks.push(summarize(await peekSnapshot(store, n), facts, configs.byNetwork.get(n)));
  }
  return { dataDir, facts, networks };
}
