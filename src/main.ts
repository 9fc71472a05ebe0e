// Dispatch only: with CNI_COMMAND set this is a CNI plugin; without it, the operator's CLI (loaded lazily,
// so the plugin path never pays for commander).
import { readStdin, runPlugin } from './cni/plugin.js';

export async function main(): Promise<number> {
  if (process.env.CNI_COMMAND !== undefined) {
    const r = runPlugin(process.env, () => readStdin());
    process.stdout.write(r.stdout);
    return r.exitCode;
  }
  const { runCli } = await import('./cli/index.js');
  return runCli(process.argv.slice(2));
}
