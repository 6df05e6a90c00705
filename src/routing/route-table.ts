/**
 * One model's routing table, parsed once per read so the hot path only does map lookups.
 *
 * Alias-to-alias targets are followed exactly one level; anything deeper, a loop or a name the
 * table lacks is reported as invalid, never followed, so a typo can not send traffic somewhere
 * nobody meant.
 */
import { isValidAlias, LATEST_ALIAS, parseRouteTarget, RouteTargetError, type RouteTarget } from './route-target.js';
import { parseShadowTarget, SHADOW_FIELD, type ShadowTarget } from './shadow-target.js';

/**
 * The raw shape shared by Redis hashes and config/routes.json: alias -> target. Always built by
 * routesFrom(), never as a `{}` literal: the aliases are whatever someone wrote, and on a plain
 * object `__proto__` would vanish (or replace the prototype) instead of being a key.
 */
export type Routes = Readonly<Record<string, string>>;

/**
 * A frozen alias -> target object without a prototype, so every name, `__proto__` and
 * `constructor` included, is an own key like any other (and shows up in problems()).
 */
export function routesFrom(entries: Iterable<readonly [string, string]>): Routes {
  const routes = Object.create(null) as Record<string, string>;
  for (const [alias, target] of entries) routes[alias] = target;
  return Object.freeze(routes);
}

/** An empty table (shared: frozen). */
export const NO_ROUTES: Routes = routesFrom([]);

/** A target that names versions directly. */
export type ConcreteTarget = Exclude<RouteTarget, { kind: 'alias' }>;

export type AliasLookup =
  /** The table routes the alias to versions. */
  | { readonly kind: 'target'; readonly target: ConcreteTarget }
  /** The built-in `latest` (the table does not override it). */
  | { readonly kind: 'latest' }
  /** The table has no such alias. */
  | { readonly kind: 'missing' }
  /** The alias exists but its route can not be used; `reason` completes "target "<target>" …". */
  | { readonly kind: 'invalid'; readonly target: string; readonly reason: string };

export interface RouteProblem {
  readonly alias: string;
  readonly target: string;
  readonly reason: string;
}

export class RouteTable {
  /** The table as stored, for status pages and admin answers. */
  readonly routes: Routes;
  // A Map, not the object itself: an alias such as `constructor` must not find Object.prototype.
  readonly #raw: ReadonlyMap<string, string>;
  readonly #parsed: ReadonlyMap<string, RouteTarget | RouteTargetError>;
  /** The `shadow` field when it is valid (see shadow-target.ts); a bad one is in problems(), never followed. */
  readonly shadow: ShadowTarget | undefined;
  readonly #shadowError: RouteTargetError | undefined;

  constructor(routes: Routes = NO_ROUTES) {
    this.#raw = new Map(Object.entries(routes));
    this.routes = routesFrom(this.#raw);
    const parsed = new Map<string, RouteTarget | RouteTargetError>();
    let shadow: ShadowTarget | undefined;
    let shadowError: RouteTargetError | undefined;
    for (const [alias, raw] of this.#raw) {
      if (alias === SHADOW_FIELD) {
        try {
          shadow = parseShadowTarget(raw);
        } catch (error) {
          shadowError = error instanceof RouteTargetError ? error : new RouteTargetError(raw, String(error));
        }
        continue;
      }
      try {
        parsed.set(alias, parseRouteTarget(raw));
      } catch (error) {
        // Kept per alias: one malformed entry must not take the model's other aliases down with it.
        parsed.set(alias, error instanceof RouteTargetError ? error : new RouteTargetError(raw, String(error)));
      }
    }
    this.#parsed = parsed;
    this.shadow = shadow;
    this.#shadowError = shadowError;
  }

  get size(): number {
    return this.#raw.size;
  }

  has(alias: string): boolean {
    return this.#raw.has(alias);
  }

  lookup(alias: string): AliasLookup {
    // Reserved: the shadow field is not an alias, so a request naming it is not routed by it.
    if (alias === SHADOW_FIELD) return { kind: 'missing' };
    const raw = this.#raw.get(alias);
    if (raw === undefined) return alias === LATEST_ALIAS ? { kind: 'latest' } : { kind: 'missing' };
    const first = this.#parsed.get(alias)!;
    if (first instanceof RouteTargetError) return { kind: 'invalid', target: raw, reason: first.reason };
    if (first.kind !== 'alias') return { kind: 'target', target: first };

    const next = first.alias;
    if (next === SHADOW_FIELD) return { kind: 'invalid', target: raw, reason: `names "${SHADOW_FIELD}", a reserved field that is not an alias` };
    if (next === alias) return { kind: 'invalid', target: raw, reason: `names alias "${alias}" itself (a loop)` };
    const nextRaw = this.#raw.get(next);
    if (nextRaw === undefined) {
      if (next === LATEST_ALIAS) return { kind: 'latest' };
      return { kind: 'invalid', target: raw, reason: `names alias "${next}", which the table does not have` };
    }
    const second = this.#parsed.get(next)!;
    if (second instanceof RouteTargetError) {
      return { kind: 'invalid', target: raw, reason: `names alias "${next}", whose ${second.message}` };
    }
    if (second.kind === 'alias') {
      const reason =
        second.alias === alias
          ? `names alias "${next}", which names "${alias}" back (a loop)`
          : `names alias "${next}", which names alias "${second.alias}" in turn; an alias may name another alias only one level deep`;
      return { kind: 'invalid', target: raw, reason };
    }
    return { kind: 'target', target: second };
  }

  /** Every alias whose route can not be used, for the admin API and the operator CLI to warn early. */
  problems(): RouteProblem[] {
    const problems: RouteProblem[] = [];
    for (const [alias, target] of this.#raw) {
      if (alias === SHADOW_FIELD) {
        if (this.#shadowError) problems.push({ alias, target, reason: this.#shadowError.reason });
        continue;
      }
      if (!isValidAlias(alias)) {
        // Requests can never name it, so it is dead weight at best and a typo at worst.
        problems.push({ alias, target, reason: 'sits under an alias name that requests can not use (^[a-z][a-z0-9_-]{0,63}$)' });
        continue;
      }
      const found = this.lookup(alias);
      if (found.kind === 'invalid') problems.push({ alias, target: found.target, reason: found.reason });
    }
    return problems;
  }
}
