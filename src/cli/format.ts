// Shared output helpers: plain-text tables, ages, usage bars and one-line JSON documents.

/** Left-aligned columns separated by two spaces; `right` lists the columns to right-align (numbers). */
export function table(headers: string[], rows: string[][], right: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** A compact age: 42s, 7m, 3h05m, 2d04h. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** Age of an ISO timestamp: "-" when there is none, "?" when it is malformed. */
export function ageOf(iso: string | undefined | null, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '?' : duration(now - t);
}

export const ageSeconds = (iso: string | undefined | null, now: number): number | null => {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(t) ? null : Math.max(0, Math.floor((now - t) / 1000));
};

/** `[####......]` for a percentage (0-100). */
export function bar(percent: number, width = 10): string {
  const filled = Math.min(width, Math.round((percent / 100) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** Container ids as `docker ps` shows them. */
export const shortId = (id: string): string => id.slice(0, 12);

/** Exact below a billion, then in scientific form (IPv6 ranges). */
export const count = (n: bigint | number): string => (BigInt(n) < 1_000_000_000n ? String(n) : Number(n).toExponential(1));

/** Percentage of part in whole with one decimal, 0 for an empty whole. */
export const percent = (part: bigint, whole: bigint): number => (whole <= 0n ? 0 : Number((part * 1000n) / whole) / 10);

export const pod = (ns: string | undefined, name: string | undefined): string => (ns || name ? `${ns ?? ''}/${name ?? ''}` : '-');

/** A JSON document for scripts: bigints as numbers, undefined fields left out, one trailing newline. */
export const json = (v: unknown): string => `${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x), 2)}\n`;
