/**
 * The JSON a README example shows as its output, read as a pattern: JSON, plus the README's two
 * ways of leaving things out. `...` (or `…`) as an array element or object member means "and
 * others"; a word ending in `…` inside a string (`"0b6c…"`) is a placeholder for a value the reader
 * gets at run time, bound on first sight so that the same placeholder later (in a header, in a
 * later command) must be the same value. An ISO timestamp stands for any timestamp.
 */

export type JsonPattern =
  | { readonly kind: 'literal'; readonly value: null | boolean | number }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'array'; readonly items: readonly JsonPattern[]; readonly more: boolean }
  | { readonly kind: 'object'; readonly members: ReadonlyArray<readonly [string, JsonPattern]>; readonly more: boolean };

/** Placeholder -> the value it stood for, shared by everything one README section shows. */
export type Bindings = Map<string, string>;

/** A placeholder: a run of characters ending in `…` (no spaces, slashes or quotes). */
const PLACEHOLDER = /[^\s/"'…]*…/g;
const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * Parses a pattern at the start of `text` (after blanks); returns it and the index where it ends,
 * so that what follows on the line can be read as a remark. Throws on text that is not a pattern.
 */
export function parseJsonPattern(text: string): { pattern: JsonPattern; end: number } {
  let at = 0;
  const blanks = () => {
    while (/\s/.test(text[at] ?? '')) at++;
  };
  const fail = (what: string): never => {
    throw new Error(`not a JSON pattern (${what} at ${at}): ${text}`);
  };
  const ellipsis = (): boolean => {
    blanks();
    const length = text.startsWith('...', at) ? 3 : text[at] === '…' ? 1 : 0;
    at += length;
    return length > 0;
  };
  const string = (): string => {
    const start = at;
    at++;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (text[at] !== '"') fail('unterminated string');
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (): JsonPattern => {
    blanks();
    const char = text[at];
    if (char === '"') return { kind: 'string', text: string() };
    if (char === '[') {
      at++;
      const items: JsonPattern[] = [];
      let more = false;
      blanks();
      while (text[at] !== ']') {
        if (ellipsis()) more = true;
        else items.push(value());
        blanks();
        if (text[at] === ',') at++;
        else if (text[at] !== ']') fail('expected , or ]');
      }
      at++;
      return { kind: 'array', items, more };
    }
    if (char === '{') {
      at++;
      const members: Array<[string, JsonPattern]> = [];
      let more = false;
      blanks();
      while (text[at] !== '}') {
        if (ellipsis()) more = true;
        else {
          blanks();
          if (text[at] !== '"') fail('expected a key');
          const key = string();
          blanks();
          if (text[at] !== ':') fail('expected :');
          at++;
          members.push([key, value()]);
        }
        blanks();
        if (text[at] === ',') at++;
        else if (text[at] !== '}') fail('expected , or }');
      }
      at++;
      return { kind: 'object', members, more };
    }
    const literal = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(at));
    if (!literal) return fail('expected a value');
    at += literal[0].length;
    return { kind: 'literal', value: JSON.parse(literal[0]) as null | boolean | number };
  };
  const pattern = value();
  return { pattern, end: at };
}

/**
 * Matches a shown string (with placeholders) against an actual one, binding new placeholders.
 * Returns false on a mismatch (and binds nothing then).
 */
export function matchText(shown: string, actual: string, bindings: Bindings): boolean {
  const names: string[] = [];
  const source = shown.split(PLACEHOLDER).map(escapeRegExp);
  const placeholders = shown.match(PLACEHOLDER) ?? [];
  let regex = source[0]!;
  placeholders.forEach((placeholder, index) => {
    names.push(placeholder);
    regex += '([^\\s/]+)' + source[index + 1]!;
  });
  const found = new RegExp(`^${regex}$`).exec(actual);
  if (!found) return false;
  const fresh = new Map<string, string>();
  for (const [index, name] of names.entries()) {
    const value = found[index + 1]!;
    const known = bindings.get(name) ?? fresh.get(name);
    if (known !== undefined && known !== value) return false;
    fresh.set(name, value);
  }
  for (const [name, value] of fresh) bindings.set(name, value);
  return true;
}

/** Every difference between a pattern and an actual JSON value, as `path: what` lines (none = a match). */
export function matchJson(pattern: JsonPattern, actual: unknown, bindings: Bindings, path = '$'): string[] {
  const shown = () => describe(pattern);
  switch (pattern.kind) {
    case 'literal':
      return actual === pattern.value ? [] : [`${path}: shown ${shown()}, got ${JSON.stringify(actual)}`];
    case 'string':
      if (typeof actual !== 'string') return [`${path}: shown ${shown()}, got ${JSON.stringify(actual)}`];
      if (ISO_TIMESTAMP.test(pattern.text) && ISO_TIMESTAMP.test(actual)) return [];
      return matchText(pattern.text, actual, bindings) ? [] : [`${path}: shown ${shown()}, got ${JSON.stringify(actual)}`];
    case 'array': {
      if (!Array.isArray(actual)) return [`${path}: shown an array, got ${JSON.stringify(actual)}`];
      if (pattern.more) {
        // "These, and others": each shown element is one of the actual ones (the first that
        // matches gives its placeholders their values).
        return pattern.items.flatMap((item, index) => {
          for (const element of actual) {
            const trial = new Map(bindings);
            if (matchJson(item, element, trial).length > 0) continue;
            for (const [name, value] of trial) bindings.set(name, value);
            return [];
          }
          return [`${path}[${index}]: shown ${describe(item)}, which no element of ${JSON.stringify(actual)} matches`];
        });
      }
      if (actual.length !== pattern.items.length) return [`${path}: shown ${pattern.items.length} elements, got ${JSON.stringify(actual)}`];
      return pattern.items.flatMap((item, index) => matchJson(item, actual[index], bindings, `${path}[${index}]`));
    }
    case 'object': {
      if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return [`${path}: shown an object, got ${JSON.stringify(actual)}`];
      const record = actual as Record<string, unknown>;
      const problems = pattern.members.flatMap(([key, member]) =>
        key in record ? matchJson(member, record[key], bindings, `${path}.${key}`) : [`${path}.${key}: shown, but absent`],
      );
      if (!pattern.more) {
        const shownKeys = new Set(pattern.members.map(([key]) => key));
        for (const key of Object.keys(record)) if (!shownKeys.has(key)) problems.push(`${path}.${key}: present, but not shown`);
      }
      return problems;
    }
  }
}

function describe(pattern: JsonPattern): string {
  switch (pattern.kind) {
    case 'literal':
      return JSON.stringify(pattern.value);
    case 'string':
      return JSON.stringify(pattern.text);
    case 'array':
      return `[${[...pattern.items.map(describe), ...(pattern.more ? ['...'] : [])].join(',')}]`;
    case 'object':
      return `{${[...pattern.members.map(([key, member]) => `${JSON.stringify(key)}:${describe(member)}`), ...(pattern.more ? ['...'] : [])].join(',')}}`;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
