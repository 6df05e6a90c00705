/**
 * Reads the block-style YAML subset our Kubernetes manifests are written in (no YAML parser is
 * among the dependencies, and one test does not justify adding one): `---` documents, block
 * mappings and sequences by indentation, `- key: value` items, plain, single- and double-quoted
 * scalars, integers, booleans, null, JSON-style flow values (`["sleep", "5"]`, `{}`) and `#`
 * comments. Anything else (anchors, aliases, tags, block scalars, tabs, duplicate keys, a line
 * that fits nowhere) throws with its line number rather than being read some other way than
 * kubectl would read it.
 */

interface Line {
  readonly number: number;
  readonly indent: number;
  readonly text: string;
}

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

/** Every document of `text`, in order (empty documents skipped). */
export function parseYamlDocuments(text: string): YamlValue[] {
  const documents: Line[][] = [[]];
  text.split('\n').forEach((raw, index) => {
    const number = index + 1;
    if (raw.includes('\t')) throw new Error(`line ${number}: tabs are not allowed in YAML indentation`);
    const content = stripComment(raw).trimEnd();
    if (content.trim() === '') return;
    if (content === '---') {
      documents.push([]);
      return;
    }
    const indent = content.length - content.trimStart().length;
    documents.at(-1)!.push({ number, indent, text: content.trimStart() });
  });
  return documents
    .filter((lines) => lines.length > 0)
    .map((lines) => {
      const [value, next] = parseNode(lines, 0, lines[0]!.indent);
      if (next < lines.length) throw new Error(`line ${lines[next]!.number}: unexpected indentation`);
      return value;
    });
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || line[i - 1] === ' ')) return line.slice(0, i);
  }
  return line;
}

const isItem = (line: Line) => line.text === '-' || line.text.startsWith('- ');

function parseNode(lines: Line[], start: number, indent: number): [YamlValue, number] {
  const first = lines[start]!;
  if (first.indent !== indent) throw new Error(`line ${first.number}: expected indentation ${indent}`);
  return isItem(first) ? parseSequence(lines, start, indent) : parseMapping(lines, start, indent);
}

function parseSequence(lines: Line[], start: number, indent: number): [YamlValue[], number] {
  const items: YamlValue[] = [];
  let i = start;
  while (i < lines.length && lines[i]!.indent === indent && isItem(lines[i]!)) {
    const line = lines[i]!;
    const rest = line.text.slice(1).trimStart();
    if (rest === '') {
      const next = lines[i + 1];
      if (!next || next.indent <= indent) throw new Error(`line ${line.number}: an empty sequence item`);
      const [value, after] = parseNode(lines, i + 1, next.indent);
      items.push(value);
      i = after;
    } else if (keyOf(rest) !== undefined) {
      // `- key: value` opens a mapping whose keys sit where `key` does.
      const offset = indent + (line.text.length - rest.length);
      lines[i] = { number: line.number, indent: offset, text: rest };
      const [value, after] = parseMapping(lines, i, offset);
      items.push(value);
      i = after;
    } else {
      items.push(parseScalar(rest, line.number));
      i++;
    }
  }
  return [items, i];
}

/** The key of a `key: value` or `key:` line, or undefined when the text is not one. */
function keyOf(text: string): { key: string; rest: string } | undefined {
  const match = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"'#:[\]{},&*!|>][^:#]*?)\s*:(?:\s+(.*))?$/.exec(text);
  if (!match) return undefined;
  const raw = match[1]!;
  const key = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.startsWith("'") ? raw.slice(1, -1) : raw;
  return { key, rest: match[2] ?? '' };
}

function parseMapping(lines: Line[], start: number, indent: number): [Record<string, YamlValue>, number] {
  const mapping: Record<string, YamlValue> = Object.create(null) as Record<string, YamlValue>;
  let i = start;
  while (i < lines.length && lines[i]!.indent === indent && !isItem(lines[i]!)) {
    const line = lines[i]!;
    const entry = keyOf(line.text);
    if (!entry) throw new Error(`line ${line.number}: expected "key: value", got "${line.text}"`);
    if (Object.hasOwn(mapping, entry.key)) throw new Error(`line ${line.number}: duplicate key "${entry.key}"`);
    i++;
    if (entry.rest !== '') {
      mapping[entry.key] = parseScalar(entry.rest, line.number);
      continue;
    }
    const next = lines[i];
    if (next && next.indent > indent) {
      [mapping[entry.key], i] = parseNode(lines, i, next.indent);
    } else if (next && next.indent === indent && isItem(next)) {
      // A sequence may sit at its key's own indentation.
      [mapping[entry.key], i] = parseSequence(lines, i, indent);
    } else {
      mapping[entry.key] = null;
    }
  }
  return [{ ...mapping }, i];
}

function parseScalar(text: string, number: number): YamlValue {
  if (/^[&*!|>%@`]/.test(text)) throw new Error(`line ${number}: "${text}" uses YAML this reader does not support (anchors, aliases, tags, block scalars)`);
  if (text.startsWith('"')) return parseJson(text, number);
  if (text.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(text)) throw new Error(`line ${number}: unterminated single-quoted string`);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (text.startsWith('[') || text.startsWith('{')) return parseJson(text, number);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  if (/^-?(0|[1-9][0-9]*)$/.test(text)) return Number(text);
  // What YAML 1.1 or 1.2 readers may take for a boolean, a float, an octal, a hex or a sexagesimal number.
  if (/^(yes|no|on|off|y|n)$/i.test(text) || /^[-+]?(\.?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?|0[xo][0-9a-f_]+|[0-9]+(:[0-5]?[0-9])+|\.inf|\.nan)$/i.test(text)) {
    throw new Error(`line ${number}: "${text}" is ambiguous in YAML (a boolean or number to some readers): quote it`);
  }
  if (/: |\s#/.test(text)) throw new Error(`line ${number}: "${text}" needs quotes`);
  return text;
}

function parseJson(text: string, number: number): YamlValue {
  try {
    return JSON.parse(text) as YamlValue;
  } catch (error) {
    throw new Error(`line ${number}: "${text}" is not a JSON-style flow value this reader supports (${(error as Error).message})`);
  }
}
