// leasehold log: pretty-prints the plugin's JSON-lines operation log (ipam.logFile, see src/plugin/oplog.ts).
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type ConfigOpts, addConfigOptions, configsFor } from '../cni-configs.js';
import { type Act, CliError, type CommonOpts, EXIT, addCommonOptions, intArg, out, warn } from '../context.js';
import { parseOpLine } from '../../plugin/oplog.js';
import { shortId } from '../format.js';

interface LogOpts extends CommonOpts, ConfigOpts {
  file?: string;
  tail?: number | true;
  follow?: boolean;
}

export const DEFAULT_TAIL = 20;

export function register(program: Command, act: Act): void {
  const cmd = program
    .command('log')
    .description("pretty-print the plugin's operation log (ipam.logFile)")
    .option('--file <file>', 'the log file (default: ipam.logFile of the configured networks)')
    .addOption(new Option('--tail [n]', `only the last n lines (${DEFAULT_TAIL} if n is left out)`).argParser(intArg(1, 1_000_000)))
    .option('--follow', 'keep printing lines as they are written (Ctrl-C to stop)');
  addConfigOptions(addCommonOptions(cmd)).action(act((opts: LogOpts, c: Command) => log(opts, c)));
}

export function pretty(line: string): string {
  const e = parseOpLine(line);
  if (!e) return `? ${line}`;
  const who = e.containerID ? `${shortId(e.containerID)}/${e.ifname ?? ''}` : '-';
  const what = e.ok ? (e.addresses?.length ? e.addresses.join(',') : '') : `error ${e.code}: ${e.msg}`;
  const timing = [e.ms !== undefined ? `${e.ms}ms` : '', e.lockWaitMs ? `lock ${e.lockWaitMs}ms` : ''].filter(Boolean).join(' ');
  return [e.time, e.verb.padEnd(6), (e.network ?? '-').padEnd(12), who.padEnd(18), e.ok ? 'ok ' : 'ERR', what, timing ? `(${timing})` : ''].join(' ').trimEnd();
}

/** The log files to read: --file, or the distinct ipam.logFile of the selected configured networks. */
function logFiles(opts: LogOpts, cmd: Command): string[] {
  if (opts.file !== undefined) return [opts.file];
  const { configs } = configsFor(cmd, opts);
  const files = [...configs.byNetwork.values()]
    .filter((f) => opts.network === undefined || f.network === opts.network)
    .flatMap((f) => (f.conf.logFile ? [f.conf.logFile] : []));
  if (files.length === 0) throw new CliError('no log file: give --file, or set ipam.logFile in the network config (found via --config or --cni-conf-dir)');
  return [...new Set(files)];
}

const readLines = (file: string): string[] => {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CliError(`cannot read log ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
};

export async function log(opts: LogOpts, cmd: Command): Promise<number> {
  const files = logFiles(opts, cmd);
  const tail = opts.tail === true ? DEFAULT_TAIL : opts.tail;
  const want = (line: string): boolean => opts.network === undefined || parseOpLine(line)?.network === opts.network;
  // The rotated file (<logFile>.1) holds the lines before the current file's first.
  let lines = files.flatMap((f) => [...readLines(`${f}.1`), ...readLines(f)]).filter(want);
  if (files.length > 1) {
    const timed = lines.map((l) => ({ l, time: parseOpLine(l)?.time ?? '' }));
    lines = timed.sort((a, b) => a.time.localeCompare(b.time)).map((t) => t.l);
  }
  if (tail !== undefined) lines = lines.slice(-tail);
  const show = (l: string): void => out(opts.json ? l : pretty(l));
  lines.forEach(show);
  if (!opts.follow) {
    if (lines.length === 0 && !files.some((f) => statOk(f))) warn(`${files.join(', ')}: no such file (yet)`);
    return EXIT.ok;
  }
  return follow(files, (l) => want(l) && show(l));
}

const statOk = (f: string): boolean => {
  try {
    return statSync(f).isFile();
  } catch {
    return false;
  }
};

/** Polls the files for appended lines; a file that shrank or was replaced (rotation) is read from its start. */
function follow(files: string[], emit: (line: string) => void): Promise<number> {
  const pos = new Map(files.map((f) => [f, sizeAndIno(f)]));
  const partial = new Map<string, string>();
  const tick = (): void => {
    for (const f of files) {
      const now = sizeAndIno(f);
      const was = pos.get(f)!;
      const from = now.ino !== was.ino || now.size < was.size ? 0 : was.size;
      if (now.size > from) {
        const text = (partial.get(f) ?? '') + readRange(f, from, now.size);
        const parts = text.split('\n');
        partial.set(f, parts.pop()!);
        parts.filter((l) => l !== '').forEach(emit);
      }
      pos.set(f, now);
    }
  };
  return new Promise((done) => {
    const timer = setInterval(tick, 250);
    const stop = (): void => {
      clearInterval(timer);
      done(EXIT.ok);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function sizeAndIno(f: string): { size: number; ino: number } {
  try {
    const st = statSync(f);
    return { size: st.size, ino: st.ino };
  } catch {
    return { size: 0, ino: 0 };
  }
}

function readRange(f: string, from: number, to: number): string {
  const fd = openSync(f, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, from + off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
