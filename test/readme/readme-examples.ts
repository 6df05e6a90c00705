/**
 * The curl examples of the README, as data: every command with a `curl` in a ```sh or ```bash
 * block, the block's setup lines before it (variables, files it writes), the gateway settings the
 * block starts `npm start` with, and the output the README shows under it.
 *
 * What counts as shown output: the comment lines right under a command whose first one starts
 * like output (`{`, `[`, `HTTP/1.1 ...` or `header: value`), up to the first that does not;
 * JSON may go on over lines that begin with a space. On those lines `HTTP/x NNN` is a status,
 * JSON is a pattern (see json-pattern.ts), `name: value` and `(name: value)` after JSON are
 * headers, and anything else is a remark, which the test must account for. Comments on a
 * command's own line describe it and are not output.
 */
import { parseJsonPattern, type JsonPattern } from './json-pattern.js';
import { readmeSections, readmeText } from './readme.js';

export interface ShownOutput {
  readonly status: number | undefined;
  /** Header name (as written) and the value shown, placeholders included. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly json: readonly JsonPattern[];
  /** Shown text no rule above reads. */
  readonly remarks: readonly string[];
}

export interface CurlExample {
  /** Heading of the README section the block is in. */
  readonly section: string;
  /** 1-based line of the command in README.md. */
  readonly line: number;
  /** The command as written (continuation lines and multi-line quotes kept). */
  readonly command: string;
  /** Earlier commands of the block that set variables or write files, to run before it. */
  readonly setup: readonly string[];
  /** Settings from a `NAME=value ... npm start` line earlier in the block. */
  readonly startEnv: Readonly<Record<string, string>>;
  readonly shown: ShownOutput | undefined;
}

type Item =
  | { readonly kind: 'command'; readonly text: string; readonly line: number }
  | { readonly kind: 'comment'; readonly text: string; readonly line: number }
  | { readonly kind: 'blank' };

const CURL = /(^|[\s|;&({])curl\s/;
const OUTPUT_START = /^(\{|\[|HTTP\/\d|[A-Za-z][A-Za-z0-9-]*: \S)/;
const START_WITH_ENV = /^((?:[A-Z][A-Z0-9_]*=\S+\s+)+)npm start\b/;
const SETUP = [/^export [A-Za-z_]\w*=\S+$/, /^[A-Za-z_]\w*=('[^']*'|"[^"]*"|[^\s'"]*)$/, /^\{ [\s\S]*\} > \S+$/];

/** Every curl example of the README, in README order. */
export function readmeCurlExamples(text = readmeText()): CurlExample[] {
  const examples: CurlExample[] = [];
  for (const section of readmeSections(text)) {
    const lines = section.body.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const fence = /^```(\w*)\s*$/.exec(lines[i]!);
      if (!fence) continue;
      let end = i + 1;
      while (end < lines.length && !lines[end]!.startsWith('```')) end++;
      if (fence[1] === 'sh' || fence[1] === 'bash') examples.push(...blockExamples(section.heading, lines.slice(i + 1, end), section.line + i + 2));
      i = end;
    }
  }
  return examples;
}

function blockExamples(section: string, lines: string[], firstLine: number): CurlExample[] {
  const items = shellItems(lines, firstLine);
  const examples: CurlExample[] = [];
  const setup: string[] = [];
  let startEnv: Record<string, string> = {};
  items.forEach((item, index) => {
    if (item.kind !== 'command') return;
    if (CURL.test(item.text)) {
      const following: Array<{ text: string; line: number }> = [];
      for (const next of items.slice(index + 1)) {
        if (next.kind !== 'comment') break;
        following.push(next);
      }
      examples.push({ section, line: item.line, command: item.text, setup: [...setup], startEnv, shown: shownOutput(following) });
      return;
    }
    const started = START_WITH_ENV.exec(item.text);
    if (started) {
      startEnv = Object.fromEntries(started[1]!.trim().split(/\s+/).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    } else if (SETUP.some((pattern) => pattern.test(item.text))) setup.push(item.text);
  });
  return examples;
}

/**
 * A block's lines as commands (a command goes on while a quote is open or a line ends in `\`;
 * a `#` starting a word outside quotes ends what the shell reads of the line), standalone
 * comments and blank lines.
 */
function shellItems(lines: string[], firstLine: number): Item[] {
  const items: Item[] = [];
  let command = '';
  let commandLine = 0;
  let quote: "'" | '"' | undefined;
  lines.forEach((line, index) => {
    if (command === '') {
      if (line.trim() === '') return void items.push({ kind: 'blank' });
      if (line.trimStart().startsWith('#')) return void items.push({ kind: 'comment', text: line.trimStart().replace(/^# ?/, ''), line: firstLine + index });
      commandLine = firstLine + index;
    }
    let code = line;
    let continued = false;
    for (let at = 0; at < line.length; at++) {
      const char = line[at]!;
      if (quote === "'") {
        if (char === "'") quote = undefined;
      } else if (char === '\\') {
        if (at === line.length - 1 && quote === undefined) continued = true;
        at++;
      } else if (quote === '"') {
        if (char === '"') quote = undefined;
      } else if (char === "'" || char === '"') quote = char;
      else if (char === '#' && (at === 0 || /\s/.test(line[at - 1]!))) {
        code = line.slice(0, at).trimEnd();
        break;
      }
    }
    command += (command === '' ? '' : '\n') + code;
    if (quote === undefined && !continued) {
      items.push({ kind: 'command', text: command, line: commandLine });
      command = '';
    }
  });
  if (command !== '') throw new Error(`README.md:${commandLine}: a command that never ends (an open quote or a trailing \\)`);
  return items;
}

function shownOutput(comments: ReadonlyArray<{ text: string; line: number }>): ShownOutput | undefined {
  if (comments.length === 0 || !OUTPUT_START.test(comments[0]!.text)) return undefined;
  let status: number | undefined;
  const headers: Array<[string, string]> = [];
  const json: JsonPattern[] = [];
  const remarks: string[] = [];
  for (let i = 0; i < comments.length; i++) {
    const text = comments[i]!.text;
    if (!OUTPUT_START.test(text)) break;
    const statusLine = /^HTTP\/[\d.]+ (\d{3})\b/.exec(text);
    if (statusLine) {
      status = Number(statusLine[1]);
      continue;
    }
    if (text.startsWith('{') || text.startsWith('[')) {
      // The JSON may go on over the next lines that begin with a space.
      let last = i;
      while (last + 1 < comments.length && comments[last + 1]!.text.startsWith(' ')) last++;
      const joined = comments.slice(i, last + 1).map((comment) => comment.text).join('\n');
      const { pattern, end } = parseJsonPattern(joined);
      json.push(pattern);
      const rest = joined.slice(end).trim();
      const annotation = /^\(([A-Za-z][A-Za-z0-9-]*): (\S+)\)$/.exec(rest);
      if (annotation) headers.push([annotation[1]!, annotation[2]!]);
      else if (rest !== '') remarks.push(rest);
      i = last;
      continue;
    }
    for (const segment of text.split(/\s{2,}/)) {
      const header = /^([A-Za-z][A-Za-z0-9-]*): (\S+)(.*)$/.exec(segment);
      if (!header) {
        remarks.push(segment);
        continue;
      }
      headers.push([header[1]!, header[2]!]);
      if (header[3]!.trim() !== '') remarks.push(header[3]!.trim());
    }
  }
  return { status, headers, json, remarks };
}
