/**
 * Where routing tables come from (Redis when REDIS_URL is set, else config/routes.json), and how
 * the project's own tools edit them. The router only sees these interfaces, so tests run it on
 * either real source.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../errors.js';
import { isValidModelName } from '../repository/model-name.js';
import { RouteTable, routesFrom, type Routes } from './route-table.js';
import { isValidAlias, parseRouteTarget, RouteTargetError } from './route-target.js';
import { parseShadowTarget, SHADOW_FIELD } from './shadow-target.js';

export interface RouteSourceStatus {
  readonly kind: 'redis' | 'file';
  /** Redis: both connections are up. File: always true (the file is local). */
  readonly connected: boolean;
  /** The current problem (connection error, unreadable file), cleared once it is gone. */
  readonly lastError?: string;
}

/** Called with the model whose table changed, or with no model when every table may have. */
export type RouteChangeListener = (model?: string) => void;

export interface RouteSource {
  /** The model's table; undefined when it has none. Rejects when the source can not be read now. */
  read(model: string): Promise<Routes | undefined>;
  /** Every model's table, for status pages and the operator CLI. */
  readAll?(): Promise<Record<string, Routes>>;
  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: RouteChangeListener): () => void;
  status(): RouteSourceStatus;
  /** Idempotent. */
  close(): Promise<void>;
}

/** How long a route edit's idempotency key is remembered: 24 h, as the IETF draft suggests. */
export const ROUTE_EDIT_KEY_TTL_MS = 24 * 60 * 60 * 1000;

export interface RouteEditOptions {
  /**
   * The client's Idempotency-Key. Repeating an edit with the same key (within
   * ROUTE_EDIT_KEY_TTL_MS) changes nothing and reports what the first one did, so a client that
   * never got an answer may always retry; the same key with another edit is refused
   * (IDEMPOTENCY_KEY_REUSED). Default none (every call edits).
   */
  readonly idempotencyKey?: string | undefined;
}

export interface RouteEditResult {
  /** True when an earlier edit with the same idempotency key did the work and this call changed nothing. */
  readonly replayed: boolean;
}

/**
 * Edits made through the project (admin API, operator CLI). Unlike a raw `redis-cli HSET`, these
 * also notify every replica, so they apply within 100 ms rather than within a cache lifetime.
 * Malformed aliases or targets are refused (INVALID_REQUEST) before anything is written.
 */
export interface RouteStore {
  /** Replaces the model's whole table atomically (an empty map removes it); answers the table as written. */
  setRoutes(model: string, routes: Routes, options?: RouteEditOptions): Promise<RouteEditResult & { readonly routes: Routes }>;
  setRoute(model: string, alias: string, target: string, options?: RouteEditOptions): Promise<RouteEditResult>;
  /** Removes one alias, or the whole table without one; `removed` is true when something was there. */
  deleteRoute(model: string, alias?: string, options?: RouteEditOptions): Promise<RouteEditResult & { readonly removed: boolean }>;
}

/** What a route edit asks for, as a hash: an idempotency key must come back with the same edit. */
export function routeEditFingerprint(operation: 'replace' | 'set' | 'delete', model: string, alias?: string, routes?: Routes): string {
  // Sorted: the same table is the same edit whatever order the body listed it in.
  const entries = routes === undefined ? null : Object.entries(routes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([operation, model, alias ?? null, entries])).digest('hex');
}

export function idempotencyKeyReused(key: string, model: string): SwitchyardError {
  return new SwitchyardError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key '${key}' was already used for a different route edit`, {
    details: { model },
  });
}

/** Fans changes out to listeners; a throwing listener must not stop the others or the source. */
export class RouteChangeEmitter {
  readonly #listeners = new Set<RouteChangeListener>();

  on(listener: RouteChangeListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  emit(model?: string): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(model);
      } catch {
        // A listener's bug is its own; the source keeps delivering to the rest.
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/** Refuses a model name that could not be a repository folder (and so could not be routed to). */
export function checkModelName(model: string): void {
  if (!isValidModelName(model)) {
    throw new SwitchyardError('INVALID_MODEL_NAME', `"${model}" is not a valid model name`, { details: { model } });
  }
}

/** Refuses an edit that could never route (bad alias name or unparsable target); returns the trimmed target. */
export function checkRouteEdit(model: string, alias: string, target: string): string {
  checkModelName(model);
  if (!isValidAlias(alias)) {
    throw new SwitchyardError('INVALID_REQUEST', `"${alias}" is not a valid alias name (^[a-z][a-z0-9_-]{0,63}$)`, {
      details: { model, alias },
    });
  }
  try {
    // The reserved `shadow` field has its own grammar (<version>:<percent>).
    if (alias === SHADOW_FIELD) parseShadowTarget(target);
    else parseRouteTarget(target);
  } catch (error) {
    if (!(error instanceof RouteTargetError)) throw error;
    throw new SwitchyardError('INVALID_REQUEST', `Route "${alias}" of model "${model}": ${error.message}`, {
      details: { model, alias, target, reason: error.reason },
    });
  }
  return target.trim();
}

/**
 * Checks a whole table before it replaces another: besides each entry, the aliases must resolve
 * (no loops, chains or dangling names), since a whole-table write has everything needed to know.
 */
export function checkRoutesEdit(model: string, routes: Routes): Routes {
  checkModelName(model);
  const checked = routesFrom(Object.entries(routes).map(([alias, target]) => [alias, checkRouteEdit(model, alias, target)]));
  const problems = new RouteTable(checked).problems();
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new SwitchyardError('INVALID_REQUEST', `Route "${first.alias}" of model "${model}": target "${first.target}" ${first.reason}`, {
      details: { model, problems },
    });
  }
  return checked;
}
