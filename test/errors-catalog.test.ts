/** Holds the error catalog to the README: every code documented with its status, each code once. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { ERROR_CATALOG } from '../src/errors.js';

it('documents every error code with its status in the README, and nothing else', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const documented = new Map<string, number>();
  for (const match of readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) documented.set(match[1]!, Number(match[2]));
  const catalog = new Map(Object.entries(ERROR_CATALOG).map(([code, entry]) => [code, entry.status]));
  expect(documented).toEqual(catalog);
});
