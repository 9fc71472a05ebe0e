// Imports go one way: base → net → config → allocator → store → plugin verbs → CLI. A module may import its
// own folder or a lower layer, never a higher one, so no two folders can import each other.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '..', '..', 'src');
const RANK: Record<string, number> = { base: 0, net: 1, config: 2, allocator: 3, etcd: 3, store: 4, plugin: 5, cli: 6, '.': 7 };

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const layerOf = (file: string): string => {
  const top = relative(SRC, file).split('/');
  return top.length === 1 ? '.' : top[0]!;
};

describe('layers', () => {
  const all = files(SRC);

  it('every folder of src has a rank', () => {
    for (const f of all) expect(RANK[layerOf(f)], `${relative(SRC, f)} is in a folder with no layer`).toBeTypeOf('number');
  });

  it('no module imports a higher layer', () => {
    const wrong: string[] = [];
    for (const f of all) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
        const target = resolve(dirname(f), m[1]!);
        const [from, to] = [layerOf(f), layerOf(target)];
        if (from !== to && RANK[to]! >= RANK[from]!) wrong.push(`${relative(SRC, f)} imports ${relative(SRC, target)} (${from} → ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('finds the imports it checks (the pattern is not blind)', () => {
    const text = readFileSync(join(SRC, 'plugin', 'dispatch.ts'), 'utf8');
    expect([...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].length).toBeGreaterThan(5);
  });
});
