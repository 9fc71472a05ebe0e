// Finding the networks that use leasehold, and their ranges, from CNI config files: one .conf/.conflist
// given with --config, or every config in the CNI config directory (libcni's order: sorted file names).
// Each leasehold plugin entry goes through the plugin's own loadNetConf, so ranges mean what they mean on ADD.
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join, normalize, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { CniError } from '../base/errors.js';
import { type NetConf, loadNetConf } from '../config/load.js';
import { CliError, type CommonOpts } from './context.js';

export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
const CONFIG_EXT = /\.(conf|conflist|json)$/;

export interface FoundConfig {
  file: string;
  network: string;
  conf: NetConf;
}

export interface Configs {
  /** By network name; the first file (in libcni order) wins. */
  byNetwork: Map<string, FoundConfig>;
  /** One line per config that could not be used. */
  problems: string[];
}

export interface ConfigOpts {
  config?: string;
  cniConfDir: string;
}

export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'network config (.conf or .conflist) to read ranges from')
    .addOption(new Option('--cni-conf-dir <dir>', 'where to look for network configs when --config is not given').default(DEFAULT_CNI_CONF_DIR));
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const usesLeasehold = (p: unknown): p is Json => isObject(p) && isObject(p.ipam) && p.ipam.type === 'leasehold';

/** The leasehold configs in one file; throws with a one-line reason if the file is unusable. */
export function readConfigFile(file: string): FoundConfig[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(err.code ? `cannot read it (${err.code})` : `not valid JSON (${err.message.slice(0, 100)})`);
  }
  if (!isObject(doc)) throw new Error('not a JSON object');
  const list = Array.isArray(doc.plugins);
  const plugins = (list ? (doc.plugins as unknown[]) : [doc]).filter(usesLeasehold);
  return plugins.map((plugin) => {
    const netconf = { ...plugin, name: doc.name, cniVersion: doc.cniVersion };
    try {
      const conf = loadNetConf(JSON.stringify(netconf), { ips: [] });
      return { file, network: conf.name, conf };
    } catch (e) {
      if (e instanceof CniError) throw new Error(e.message);
      throw e;
    }
  });
}

function collect(files: string[], strict: boolean): Configs {
  const byNetwork = new Map<string, FoundConfig>();
  const problems: string[] = [];
  for (const file of files) {
    let found: FoundConfig[];
    try {
      found = readConfigFile(file);
    } catch (e) {
      if (strict) throw new CliError(`config ${file}: ${(e as Error).message}`);
      problems.push(`config ${file} skipped: ${(e as Error).message}`);
      continue;
    }
    for (const f of found) {
      const first = byNetwork.get(f.network);
      if (first) problems.push(`config ${file} ignored for network ${f.network}: ${basename(first.file)} defines it first`);
      else byNetwork.set(f.network, f);
    }
  }
  return { byNetwork, problems };
}

/**
 * The configs that apply to a data directory. An explicit --config applies whatever its dataDir; configs
 * found in the conf dir apply only to the data directory they name (default /var/lib/cni/networks).
 */
export function loadConfigs(opts: ConfigOpts & Pick<CommonOpts, 'dataDir'>, confDirExplicit: boolean): Configs {
  if (opts.config !== undefined) return collect([resolve(opts.config)], true);
  let names: string[];
  try {
    names = readdirSync(opts.cniConfDir)
      .filter((n) => CONFIG_EXT.test(n))
      .sort();
  } catch (e) {
    if (!confDirExplicit && (e as NodeJS.ErrnoException).code === 'ENOENT') return { byNetwork: new Map(), problems: [] };
    throw new CliError(`cannot read CNI config directory ${opts.cniConfDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const all = collect(
    names.map((n) => join(opts.cniConfDir, n)),
    false,
  );
  const dataDir = normalize(resolve(opts.dataDir));
  for (const [name, f] of all.byNetwork) if (f.conf.dataDir !== dataDir) all.byNetwork.delete(name);
  return all;
}

/** --data-dir, unless left at its default while --config names a file whose networks use another one. */
export function effectiveDataDir(opts: CommonOpts & ConfigOpts, dataDirExplicit: boolean, configs: Configs): string {
  if (dataDirExplicit || opts.config === undefined) return resolve(opts.dataDir);
  const dirs = new Set([...configs.byNetwork.values()].map((f) => f.conf.dataDir));
  return dirs.size === 1 ? [...dirs][0]! : resolve(opts.dataDir);
}

/** The data directory and configs a command works with, from its parsed options. */
export function configsFor(cmd: Command, opts: CommonOpts & ConfigOpts): { dataDir: string; configs: Configs } {
  const explicit = (key: string): boolean => cmd.getOptionValueSource(key) === 'cli';
  const configs = loadConfigs(opts, explicit('cniConfDir'));
  return { dataDir: effectiveDataDir(opts, explicit('dataDir'), configs), configs };
}
