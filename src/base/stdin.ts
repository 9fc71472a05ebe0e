// Reading the network config from stdin, once per process. The single executable's first script reads it
// before it compiles the plugin bundle, to pick the code cache that fits the call (src/sea-main.ts), and
// hands what it read to the bundle: the two are separate scripts, each with its own copy of this module,
// so the hand-over goes through a global.
import { fstatSync, readSync } from 'node:fs';

/** Network configs are a few KB; anything past this is a mistake or an attack, refused before parsing. */
export const MAX_STDIN = 1 << 20;

/** All of stdin, or why it could not be had (an errno code, or more than MAX_STDIN bytes). */
export type StdinRead = { text: string } | { failed: string } | { tooLarge: true };

const HANDED = Symbol.for('leasehold.stdin');
const slot = globalThis as { [HANDED]?: StdinRead };

function readAll(fd: number): StdinRead {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'unknown error';
      if (code === 'EAGAIN') continue;
      if (code === 'EOF' || code === 'EBADF' || code === 'ENXIO') break;
      return { failed: code };
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_STDIN) return { tooLarge: true };
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return { text: Buffer.concat(chunks).toString('utf8') };
}

/** Whether stdin is a terminal (an operator typing a command by hand): then nothing reads it unasked. */
export function stdinIsTerminal(fd = 0): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return false;
  }
}

/**
 * Reads stdin now, unless it is a terminal, and keeps the result for readStdinOnce (in either script);
 * the config's text, if there was one.
 */
export function readStdinAhead(fd = 0): string | undefined {
  if (stdinIsTerminal(fd)) return undefined;
  const read = readAll(fd);
  slot[HANDED] = read;
  return 'text' in read ? read.text : undefined;
}

/** What readStdinAhead read, or stdin read now. */
export function readStdinOnce(fd = 0): StdinRead {
  const read = slot[HANDED];
  slot[HANDED] = undefined;
  return read ?? readAll(fd);
}
