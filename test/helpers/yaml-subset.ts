// A reader for the small block-YAML subset the manifests in deploy/ are written in: mappings, sequences ("- "
// items, which may open a mapping), plain or double-quoted scalars, JSON-style flow sequences and comments.
// Anything else (anchors, tags, multi-line scalars, single quotes, several documents) throws, so a manifest
// that grows beyond the subset fails its test instead of being misread.

type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

interface Line {
  indent: number;
  text: string;
  no: number;
}

function scalar(raw: string, no: number): Value {
  const s = raw.trim();
  if (s.startsWith('[') || s.startsWith('"')) {
    try {
      return JSON.parse(s) as Value;
    } catch {
      throw new Error(`line ${no}: not a JSON-style flow value: ${s}`);
    }
  }
  if (/^[&*!|>'{%@`]/.test(s)) throw new Error(`line ${no}: YAML feature outside the subset: ${s}`);
  if (s === 'true' || s === 'false') return s === 'true';
  if (s === 'null' || s === '~' || s === '') return null;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s;
}

function stripComment(text: string): string {
  // a # starts a comment at the line start or after a space, outside double quotes
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && text[i] === '#' && (i === 0 || text[i - 1] === ' ')) return text.slice(0, i);
  }
  return text;
}

export function parseYamlSubset(source: string): Value {
  const lines: Line[] = [];
  source.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new Error(`line ${i + 1}: tab in indentation`);
    if (/^(---|\.\.\.)\s*$/.test(raw)) throw new Error(`line ${i + 1}: one document only`);
    const text = stripComment(raw).trimEnd();
    if (text.trim()) lines.push({ indent: text.length - text.trimStart().length, text: text.trim(), no: i + 1 });
  });
  let pos = 0;

  function block(indent: number): Value {
    const first = lines[pos];
    if (!first || first.indent !== indent) throw new Error(`line ${first?.no ?? 'end'}: expected indentation ${indent}`);
    return first.text.startsWith('- ') || first.text === '-' ? sequence(indent) : mapping(indent);
  }

  function sequence(indent: number): Value[] {
    const out: Value[] = [];
    while (pos < lines.length && lines[pos]!.indent === indent && lines[pos]!.text.startsWith('-')) {
      const line = lines[pos]!;
      const rest = line.text.slice(1).trimStart();
      if (rest.startsWith('- ')) throw new Error(`line ${line.no}: nested "- - " sequences are outside the subset`);
      if (rest === '') {
        pos++;
        out.push(block(lines[pos]?.indent ?? -1));
      } else if (/^[^"[]*?:( |$)/.test(rest)) {
        // "- key: value" opens a mapping whose keys sit two columns in
        lines[pos] = { indent: indent + 2, text: rest, no: line.no };
        out.push(mapping(indent + 2));
      } else {
        pos++;
        out.push(scalar(rest, line.no));
      }
    }
    return out;
  }

  function mapping(indent: number): { [key: string]: Value } {
    const out: { [key: string]: Value } = {};
    while (pos < lines.length && lines[pos]!.indent === indent && !lines[pos]!.text.startsWith('- ')) {
      const line = lines[pos]!;
      const m = /^([A-Za-z0-9_./-]+):(?: (.*))?$/.exec(line.text);
      if (!m) throw new Error(`line ${line.no}: expected "key: value": ${line.text}`);
      const key = m[1]!;
      if (key in out) throw new Error(`line ${line.no}: duplicate key ${key}`);
      pos++;
      if (m[2] !== undefined && m[2].trim() !== '') out[key] = scalar(m[2], line.no);
      else if (pos < lines.length && lines[pos]!.indent > indent) out[key] = block(lines[pos]!.indent);
      else if (pos < lines.length && lines[pos]!.indent === indent && lines[pos]!.text.startsWith('- ')) out[key] = sequence(indent);
      else out[key] = null;
    }
    if (pos < lines.length && lines[pos]!.indent > indent) throw new Error(`line ${lines[pos]!.no}: unexpected indentation`);
    return out;
  }

  const doc = block(lines[0]?.indent ?? 0);
  if (pos !== lines.length) throw new Error(`line ${lines[pos]!.no}: unexpected indentation`);
  return doc;
}
