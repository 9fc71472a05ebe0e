// The single executable's first script. It runs the plugin bundle (src/entry.ts), embedded as an asset with
// the V8 code cache the build made by running that bundle through every verb (scripts/code-cache.mjs): a
// call then deserialises the bytecode of the functions it runs instead of parsing and compiling each of them
// on its first call. Measured side by side with the bundle as the executable's main script (docs/performance.md).
import { getAsset, getRawAsset } from 'node:sea';
import { runBundle } from './base/embedded.js';

runBundle(getAsset('leasehold.cjs', 'utf8'), 'leasehold.cjs', require, new Uint8Array(getRawAsset('leasehold.cache') as ArrayBuffer));
