/**
 * What counts as a model name and a version: the one definition, used by discovery (folders in
 * model-repo/), the registry, the routing stores, and the HTTP layer's path parameters, so that
 * a name refused on disk is refused on the wire too, and a version that loads can be asked for.
 */

/**
 * Model folder names: letters, digits, `_`, `.`, `-`, at most 128 characters, and no `..`
 * anywhere. The leading letter or digit keeps `.`, `..` and hidden folders out; `..` inside a
 * name (`a..b`) is refused too, as the HTTP API always did: one rule everywhere, and no name that
 * looks like a path trick in a log, a URL or a Redis key.
 */
export const MODEL_NAME_PATTERN = /^(?!.*\.\.)[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** The rule in words, for error messages. */
export const MODEL_NAME_RULE = "letters, digits, '_', '.', '-' (starting with a letter or digit, no '..', at most 128 characters)";

/** Version folders: positive integers without leading zeros, so `1` and `01` never both mean 1. */
const VERSION_PATTERN = /^[1-9][0-9]*$/;

/** The rule in words, for error messages. */
export const VERSION_RULE = 'a positive integer without leading zeros, at most 2^53 - 1';

export function isValidModelName(name: string): boolean {
  return MODEL_NAME_PATTERN.test(name);
}

/** The version a folder name (or a path parameter) stands for, or undefined when it is not a version. */
export function parseVersion(text: string): number | undefined {
  if (!VERSION_PATTERN.test(text)) return undefined;
  const version = Number(text);
  return Number.isSafeInteger(version) ? version : undefined;
}

export function isValidVersion(version: number): boolean {
  return Number.isSafeInteger(version) && version > 0;
}
