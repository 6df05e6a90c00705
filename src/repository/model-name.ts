/**
 * What counts as a model name and a version in the repository, shared by discovery, the registry
 * and (later) the HTTP layer so that a name refused on disk is refused on the wire too.
 */

/** Model folder names: a leading letter or digit keeps `.`, `..` and hidden folders out. */
export const MODEL_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Version folders: positive integers without leading zeros, so `1` and `01` never both mean 1. */
const VERSION_PATTERN = /^[1-9][0-9]*$/;

export function isValidModelName(name: string): boolean {
  return name !== '.' && name !== '..' && MODEL_NAME_PATTERN.test(name);
}

/** The version a folder name stands for, or undefined when the folder is not a version. */
export function parseVersion(folder: string): number | undefined {
  if (!VERSION_PATTERN.test(folder)) return undefined;
  const version = Number(folder);
  return Number.isSafeInteger(version) ? version : undefined;
}

export function isValidVersion(version: number): boolean {
  return Number.isSafeInteger(version) && version > 0;
}
