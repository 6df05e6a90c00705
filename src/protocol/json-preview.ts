/**
 * A client's JSON value as error messages show it: short, and never the whole of a large or
 * deeply nested value (JSON.stringify recurses as deep as the client nests, so a value nested a
 * few thousand levels would turn a 400 into a stack overflow and a 500).
 */

const MAX_PREVIEW = 80;

export function jsonPreview(value: unknown): string {
  if (typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? '[]' : `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (value !== null && typeof value === 'object') return 'an object';
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > MAX_PREVIEW ? `${text.slice(0, MAX_PREVIEW - 3)}...` : text;
}
