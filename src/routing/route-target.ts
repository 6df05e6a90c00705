/**
 * The grammar of the routing table: alias names and the three kinds of target (a version, a
 * weighted split, another alias). Pure functions, so the router, the stores and the operator CLI
 * all refuse the same strings with the same words.
 */
import { parseVersion } from '../repository/model-name.js';

/** Alias names: lower case so `Stable` and `stable` never both exist; 64 chars keeps keys short. */
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;

/** Built in: the highest servable version, unless the table sets it. */
export const LATEST_ALIAS = 'latest';

/** What an unversioned request uses; when the table lacks it, `latest`. */
export const DEFAULT_ALIAS = 'default';

/**
 * Weights are relative, but a bound keeps the sum far inside safe integers and catches typos such
 * as a pasted timestamp.
 */
export const MAX_SPLIT_WEIGHT = 1_000_000;

export interface SplitPart {
  readonly version: number;
  readonly weight: number;
}

export type RouteTarget =
  | { readonly kind: 'version'; readonly version: number }
  | { readonly kind: 'split'; readonly parts: readonly SplitPart[] }
  | { readonly kind: 'alias'; readonly alias: string };

/** A target string that cannot be parsed; `reason` completes "target "<raw>" …". */
export class RouteTargetError extends Error {
  readonly target: string;
  readonly reason: string;

  constructor(target: string, reason: string) {
    super(`target "${target}" ${reason}`);
    this.name = 'RouteTargetError';
    this.target = target;
    this.reason = reason;
  }
}

export function isValidAlias(alias: string): boolean {
  return ALIAS_PATTERN.test(alias);
}

/**
 * Parses a target as written in the table. Spaces around tokens are tolerated because people
 * type `2:90, 3:10` into redis-cli; everything else that is not exactly one of the three kinds
 * throws a RouteTargetError.
 */
export function parseRouteTarget(raw: string): RouteTarget {
  const text = raw.trim();
  if (text === '') throw new RouteTargetError(raw, 'is empty');

  if (/^[0-9]+$/.test(text)) {
    const version = parseVersion(text);
    if (version === undefined) {
      throw new RouteTargetError(raw, 'is not a valid version (a positive integer without leading zeros)');
    }
    return { kind: 'version', version };
  }

  if (text.includes(':') || text.includes(',')) return { kind: 'split', parts: parseSplit(raw, text) };

  if (isValidAlias(text)) return { kind: 'alias', alias: text };

  throw new RouteTargetError(
    raw,
    'is not a version (e.g. 3), a weighted split (e.g. 2:90,3:10) or an alias name (matching ^[a-z][a-z0-9_-]{0,63}$)',
  );
}

function parseSplit(raw: string, text: string): SplitPart[] {
  const parts: SplitPart[] = [];
  const seen = new Set<number>();
  for (const token of text.split(',')) {
    const match = /^\s*([0-9]+)\s*:\s*([0-9]+)\s*$/.exec(token);
    if (!match) throw new RouteTargetError(raw, `has a split part "${token.trim()}" that is not <version>:<weight>`);
    const version = parseVersion(match[1]!);
    if (version === undefined) {
      throw new RouteTargetError(raw, `has a split part "${token.trim()}" whose version is not a positive integer`);
    }
    const weight = Number(match[2]!);
    if (!Number.isSafeInteger(weight) || weight > MAX_SPLIT_WEIGHT) {
      throw new RouteTargetError(raw, `has a split weight above ${MAX_SPLIT_WEIGHT}`);
    }
    // Two parts for one version are almost always a typo for another version; refuse rather than guess.
    if (seen.has(version)) throw new RouteTargetError(raw, `names version ${version} twice`);
    seen.add(version);
    parts.push({ version, weight });
  }
  if (parts.every((part) => part.weight === 0)) throw new RouteTargetError(raw, 'has no part with a positive weight');
  return parts;
}

/** The canonical spelling of a target, for logs, admin answers and the stores. */
export function formatRouteTarget(target: RouteTarget): string {
  switch (target.kind) {
    case 'version':
      return String(target.version);
    case 'split':
      return target.parts.map((part) => `${part.version}:${part.weight}`).join(',');
    case 'alias':
      return target.alias;
  }
}

/**
 * Picks one version of a split. `draw` is a number in [0, 1), so tests can pass a fixed one and
 * production passes Math.random(). Zero-weight parts are never drawn.
 */
export function pickSplitVersion(parts: readonly SplitPart[], draw: number): number {
  let total = 0;
  for (const part of parts) total += part.weight;
  let point = draw * total;
  for (const part of parts) {
    if (point < part.weight) return part.version;
    point -= part.weight;
  }
  // Only reachable through floating-point rounding at draw ~ 1: fall back to the last weighted part.
  return [...parts].reverse().find((part) => part.weight > 0)!.version;
}
