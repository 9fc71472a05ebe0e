// Dispatch only: with CNI_COMMAND set this is a CNI plugin; without it, the operator's CLI, which is loaded
// from its own bundle so the plugin path never pays for it.
import { writeAll } from './base/proc.js';
import { loadCli } from './cli/load.js';
import { readStdin, runPlugin } from './plugin/dispatch.js';

export async function main(): Promise<number> {
  if (process.env.CNI_COMMAND !== undefined) {
    const r = await runPlugin(process.env, () => readStdin());
    writeAll(1, r.stdout);
    // Everything a call does is done and written synchronously by now (reply, state, operation log; idle
    // etcd connections are unreferenced): exiting here skips the runtime's teardown of the V8 heap, CPU
    // every call paid (docs/performance.md).
    process.exit(r.exitCode);
  }
  return loadCli().runCli(process.argv.slice(2));
}
