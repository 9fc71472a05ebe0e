// The single executable's first script. It runs the plugin bundle (src/entry.ts), embedded as an asset with
// the V8 code caches the build made by running that bundle through every verb (scripts/code-cache.mjs): a
// call then deserialises the bytecode of the functions it runs instead of parsing and compiling each of them
// on its first call. Measured side by side with the bundle as the executable's main script (docs/performance.md).
// A plugin call reads its config first, to pick the cache that fits it (codeCacheFor).
import { getAsset, getRawAsset } from 'node:sea';
import { codeCacheFor, runBundle } from './base/embedded.js';
import { readStdinAhead } from './base/stdin.js';

const config = process.env.CNI_COMMAND !== undefined ? readStdinAhead() : undefined;
runBundle(getAsset('leasehold.cjs', 'utf8'), 'leasehold.cjs', require, new Uint8Array(getRawAsset(codeCacheFor(config)) as ArrayBuffer));
