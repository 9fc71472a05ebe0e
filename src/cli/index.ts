// The operator's CLI (run without CNI_COMMAND). Every failure ends as one line on stderr and an exit
// code: 0 ok, 1 findings (check) or refused (release), 2 usage, configuration or I/O errors.
import { Command, CommanderError } from 'commander';
import { CniError } from '../base/errors.js';
import { codeCacheUse } from '../base/embedded.js';
import { SUPPORTED_VERSIONS } from '../base/versions.js';
import * as check from './commands/check.js';
import * as gc from './commands/gc.js';
import * as importHostLocal from './commands/import-host-local.js';
import * as list from './commands/list.js';
import * as log from './commands/log.js';
import * as metrics from './commands/metrics.js';
import * as migrate from './commands/migrate.js';
import * as release from './commands/release.js';
import * as status from './commands/status.js';
import { type Act, CliError, type CliIo, EXIT, processIo, warn, withIo } from './context.js';
import { VERSION } from './version.js';

const COMMANDS = [status, list, check, release, gc, importHostLocal, migrate, log, metrics];

/** One line for any error: operator errors as they are, bugs as "internal error" (stack with LEASEHOLD_DEBUG=1). */
function reason(err: unknown): { line: string; code: number } {
  if (err instanceof CliError) return { line: err.message, code: err.exitCode };
  if (err instanceof CniError) return { line: err.message, code: EXIT.error };
  const e = err as NodeJS.ErrnoException;
  if (process.env.LEASEHOLD_DEBUG) warn(e?.stack ?? String(err));
  if (e?.code && e.message) return { line: e.message, code: EXIT.error };
  return { line: `internal error: ${e?.message ?? String(err)} (LEASEHOLD_DEBUG=1 shows where)`, code: EXIT.error };
}

export async function runCli(argv: string[], streams: CliIo = processIo): Promise<number> {
  return withIo(streams, async () => {
    let code: number = EXIT.ok;
    const act: Act =
      (body) =>
      async (...args) => {
        code = await body(...args);
      };
    const program = new Command('leasehold')
      .description('CNI IPAM plugin (when run with CNI_COMMAND set) and its operator tool')
      .version(
        `leasehold ${VERSION} (CNI spec ${SUPPORTED_VERSIONS[0]} to ${SUPPORTED_VERSIONS.at(-1)})\nruntime Node ${process.version}, start-up code cache ${codeCacheUse()}`,
        '-V, --version',
      )
      .exitOverride()
      .configureOutput({
        writeOut: (s) => streams.stdout(s),
        writeErr: (s) => streams.stderr(s),
        outputError: (s, write) => write(`leasehold: ${s.trim().replace(/^error: /, '')} (see --help)\n`),
      });
    program.addHelpText('after', '\nExit status: 0 ok, 1 findings (check) or refused (release), 2 usage, configuration or I/O error.\nDocs: docs/cli.md');
    for (const c of COMMANDS) c.register(program, act);
    try {
      await program.parseAsync(argv, { from: 'user' });
    } catch (err) {
      if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.error;
      const r = reason(err);
      warn(r.line);
      return r.code;
    }
    return code;
  });
}
