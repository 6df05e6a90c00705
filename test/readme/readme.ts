/**
 * The README as data for the tests that hold it: its sections by heading and the rows of its
 * Markdown tables. The README is read from the working tree, so a test sees the text as committed.
 */
import { readFileSync } from 'node:fs';

export const README_PATH = new URL('../../README.md', import.meta.url);

export function readmeText(): string {
  return readFileSync(README_PATH, 'utf8');
}

export interface ReadmeSection {
  /** The heading's text, without the leading #s. */
  readonly heading: string;
  /** 2 for ##, 3 for ###, ... */
  readonly level: number;
  /** 1-based line of the heading in README.md. */
  readonly line: number;
  /** The lines after the heading, up to the next heading of any level. */
  readonly body: string;
}

/** Every section, in order; a `#` inside a fenced block is not a heading. */
export function readmeSections(text = readmeText()): ReadmeSection[] {
  const sections: ReadmeSection[] = [];
  let current: { heading: string; level: number; line: number; lines: string[] } | undefined;
  let fenced = false;
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^(#{1,6}) (.+)$/.exec(line);
    if (heading) {
      if (current) sections.push({ heading: current.heading, level: current.level, line: current.line, body: current.lines.join('\n') });
      current = { heading: heading[2]!.trim(), level: heading[1]!.length, line: index + 1, lines: [] };
    } else current?.lines.push(line);
  });
  if (current) sections.push({ heading: current.heading, level: current.level, line: current.line, body: current.lines.join('\n') });
  return sections;
}

/** The section with this heading; throws when there is none or more than one. */
export function readmeSection(heading: string, text = readmeText()): ReadmeSection {
  const found = readmeSections(text).filter((section) => section.heading === heading);
  if (found.length !== 1) throw new Error(`README.md has ${found.length} sections headed "${heading}"`);
  return found[0]!;
}

/** The body rows of the first Markdown table in `text`, as cells (trimmed, backticks kept). */
export function markdownTableRows(text: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith('|'));
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(splitRow(line));
  }
  return rows;
}

/** A table row's cells; a `|` inside backticks belongs to its cell. */
function splitRow(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let code = false;
  for (const char of line.slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)) {
    if (char === '`') code = !code;
    if (char === '|' && !code) {
      cells.push(cell.trim());
      cell = '';
    } else cell += char;
  }
  cells.push(cell.trim());
  return cells;
}
