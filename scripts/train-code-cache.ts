// One step of making the plugin bundle's code cache (scripts/code-cache.mjs runs one per call it trains,
// each given the cache of the step before): runs the bundle as the single executable does, with node:sea
// answered from the build directory so the addon's lock is the one exercised, and at exit writes the cache
// it was given plus every function this run compiled.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runBundle } from '../src/base/embedded.js';

const [bundlePath, cacheIn, cacheOut] = process.argv.slice(2) as [string, string, string];
const asset = (name: string): Buffer => readFileSync(join(dirname(bundlePath), name));
const arrayBuffer = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const sea = {
  isSea: () => true,
  getAsset: (name: string, encoding?: BufferEncoding) => (encoding ? asset(name).toString(encoding) : arrayBuffer(asset(name))),
  getRawAsset: (name: string) => arrayBuffer(asset(name)),
};
const req = Object.assign((id: string) => (id === 'node:sea' ? sea : require(id)), require) as NodeJS.Require;
const cachedData = cacheIn === '' ? undefined : readFileSync(cacheIn);
const { script } = runBundle(readFileSync(bundlePath, 'utf8'), 'leasehold.cjs', req, cachedData);
if (cachedData && script.cachedDataRejected) {
  process.stderr.write(`code cache: V8 refused ${cacheIn}\n`);
  process.exit(3);
}
process.on('exit', () => writeFileSync(cacheOut, script.createCachedData()));
