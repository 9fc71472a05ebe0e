// Running a CommonJS bundle that the single executable carries as an asset: the plugin (from the executable's
// first script, src/sea-main.ts) and the operator CLI (src/cli/load.ts). The plugin bundle comes with a V8
// code cache that the build made after running it (scripts/code-cache.mjs), so a call deserialises the
// bytecode of the functions it runs instead of parsing and compiling them. The wrapper text is part of what
// the cache was made from: the build and the executable compile through this one function.
import type { Script } from 'node:vm';

export interface Bundle {
  script: Script;
  /** What the bundle exported. */
  exports: unknown;
}

/**
 * The plugin bundle's code cache for a call, by its config: one trained on the node's disk alone, and one
 * trained on cluster mode too, whose etcd client makes it 1.6 times as large and a disk call slower. The key
 * is looked for as text, before any parsing: a config that only mentions "cluster", or spells the key with
 * an escape, gets the other cache and takes longer, nothing else.
 */
export const codeCacheFor = (config: string | undefined): string => (config?.includes('"cluster"') ? 'leasehold-cluster.cache' : 'leasehold.cache');

const REFUSED = 'refused by V8 (made with other V8 flags: see NODE_OPTIONS)';

/** How the executable's start-up code cache fared: V8 refuses one made with other flags (NODE_OPTIONS). */
export type CodeCacheUse = 'in use' | typeof REFUSED | 'not embedded';

const USE = Symbol.for('leasehold.code-cache');

export function runBundle(source: string, filename: string, req: NodeJS.Require, cachedData?: Uint8Array): Bundle {
  const { Script } = req('node:vm') as typeof import('node:vm');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename, cachedData });
  if (cachedData) (globalThis as Record<symbol, unknown>)[USE] = script.cachedDataRejected ? REFUSED : 'in use';
  const module = { exports: {} };
  script.runInThisContext()(module.exports, req, module, filename, '.');
  return { script, exports: module.exports };
}

export const codeCacheUse = (): CodeCacheUse => ((globalThis as Record<symbol, unknown>)[USE] as CodeCacheUse | undefined) ?? 'not embedded';
