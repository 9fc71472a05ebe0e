// Dispatch only: with CNI_COMMAND set this is a CNI plugin; without it, the operator's CLI, which is loaded
// from its own bundle so the plugin path never pays for it.
import { writeAll } from './base/proc.js';
import { loadCli } from './cli/load.js';
import { readStdin, runPlugin } from './plugin/dispatch.js';

export async function main(): Promise<number> {
  if (process.env.CNI_COMMAND !== undefined) {
    const r = await runPlugin(process.env, () => readStdin());
    writeAll(1, r.stdout);
    return r.exitCode;
  }
  return loadCli().runCli(process.argv.slice(2));
}
