/**
 * The `shadow` field of a routing table: `<version>:<percent>` mirrors that share of the model's
 * table-routed requests to another version, after the primary has answered. It lives in the same
 * hash as the aliases (one HSET turns it on), so its name is reserved: it is never an alias, and
 * its value has its own grammar, refused with the same kind of words as a bad target.
 */
import { parseVersion } from '../repository/model-name.js';
import { RouteTargetError } from './route-target.js';

/** The reserved field name. */
export const SHADOW_FIELD = 'shadow';

export interface ShadowTarget {
  /** The version that gets the mirrored copies. */
  readonly version: number;
  /** Share of requests mirrored, 0 < percent <= 100 (decimals allowed, e.g. 0.5). */
  readonly percent: number;
}

/** Parses `3:10` or `3:0.5`; throws RouteTargetError (its reason completes "target "<raw>" …"). */
export function parseShadowTarget(raw: string): ShadowTarget {
  const match = /^\s*([0-9]+)\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(raw);
  if (!match) throw new RouteTargetError(raw, 'is not a shadow <version>:<percent> (e.g. 3:10 mirrors 10 % of requests to version 3)');
  const version = parseVersion(match[1]!);
  if (version === undefined) throw new RouteTargetError(raw, 'names a shadow version that is not a positive integer without leading zeros');
  const percent = Number(match[2]!);
  if (!(percent > 0 && percent <= 100)) throw new RouteTargetError(raw, 'has a shadow percent outside 0 < percent <= 100');
  return { version, percent };
}

export function formatShadowTarget(target: ShadowTarget): string {
  return `${target.version}:${target.percent}`;
}
