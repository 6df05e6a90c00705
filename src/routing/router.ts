/**
 * Router.resolve(model, versionSpec) -> the concrete version a request runs on.
 *
 * Tables are cached per model. A table younger than cacheTtlMs is used as is; an older one is
 * still used while a background read refreshes it; but one older than maxAgeMs (the README's
 * "a raw HSET reaches every replica within 1 s") is read again before the request uses it, so
 * the bound holds for the first request on an idle gateway too. That wait is bounded by the
 * source (Redis: its command timeout); when the read fails, the last good table serves, reported
 * as stale, and requests do not wait again until a read succeeds or maxAgeMs has passed. Change
 * notifications from the source refresh the affected tables at once.
 *
 * What is wrong with a table is reported once per change, as 'issues' events and in status():
 * aliases that can not route, and a table that can not be read at all (a Redis key that is not a
 * hash), while the last good table of that model keeps serving.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { isSwitchyardError, SwitchyardError } from '../errors.js';
import { parseVersion } from '../repository/model-name.js';
import type { RouteSource, RouteSourceStatus } from './route-source.js';
import { NO_ROUTES, RouteTable, type RouteProblem, type Routes } from './route-table.js';
import { DEFAULT_ALIAS, isValidAlias, LATEST_ALIAS, pickSplitVersion } from './route-target.js';
import type { ShadowTarget } from './shadow-target.js';

export interface RouterOptions {
  /** Where tables come from. Required. The router does not close it. */
  source: RouteSource;
  /** Versions of the model that can take requests now (READY). Required. */
  servableVersions: (model: string) => readonly number[];
  /** Every version the repository knows for the model, in any state. Required. */
  knownVersions: (model: string) => readonly number[];
  /** Why a version can not take requests (its state and last load error), for error messages. Default none. */
  describeVersion?: (model: string, version: number) => string | undefined;
  /** Age after which a cached table is refreshed in the background (still served meanwhile). Default 250 ms. */
  cacheTtlMs?: number;
  /**
   * Age after which a cached table is read again before a request uses it: the bound on how long
   * an edit nobody announced (a raw HSET) can go unseen. Default 1000 ms, never below cacheTtlMs.
   */
  maxAgeMs?: number;
  /** Most models whose tables are cached. Default 10,000. */
  cacheMax?: number;
  /** Source of split draws in [0, 1). Default Math.random. */
  random?: () => number;
}

export interface Resolution {
  readonly version: number;
  /** The alias the version was reached through (`latest` for an unversioned request without `default`); absent for an integer request. */
  readonly alias?: string;
  /** The table's valid `shadow` field, for a request routed by the table (never for an integer request). */
  readonly shadow?: ShadowTarget;
}

/** What is wrong with one model's table; both empty = nothing (the event that says it was fixed). */
export interface RouteTableIssues {
  readonly model: string;
  /** Why the table can not be read at all (e.g. its Redis key is not a hash); the last good table, if any, serves. */
  readonly unreadable?: string;
  /** Aliases of the table in use that can not route (answered INVALID_ROUTE; the other aliases work). */
  readonly problems: readonly RouteProblem[];
}

/** A table used past maxAgeMs because it could not be read again. */
export interface StaleRouteTable {
  readonly model: string;
  /** Why the last read failed. */
  readonly reason: string;
}

export interface RouterEvents {
  /** A model's table issues appeared or changed (once per change, not per request); empty once fixed. */
  issues: [RouteTableIssues];
  /** A model's last good table is now served past maxAgeMs (`stale` true), or was read again (false). */
  stale: [{ model: string; stale: boolean; reason?: string }];
}

export interface RouterStatus {
  readonly source: RouteSourceStatus;
  readonly cache: {
    /** Lookups answered from memory, fresh or stale. */
    readonly hits: number;
    /** Lookups that had to wait for the source. */
    readonly misses: number;
    /** Models whose tables are cached. */
    readonly size: number;
  };
  /** Models whose cached table has issues, by model name. */
  readonly issues: readonly RouteTableIssues[];
  /** Models served from a table older than maxAgeMs. */
  readonly stale: readonly StaleRouteTable[];
}

/**
 * A source that keeps changing could make a refresh re-read forever; after this many re-reads the
 * table is taken as is, and the next change refreshes it again.
 */
const MAX_REREADS = 3;

/** One model's cached table and what is known about reading it. */
interface CachedTable {
  /** The last table read; undefined until a read succeeds. */
  table: RouteTable | undefined;
  /** When the read that gave `table` started (performance.now): its age is measured from there. */
  readAt: number;
  /** Bumped by change notifications, so a read that overlapped one is repeated. */
  changes: number;
  refreshing: Promise<void> | undefined;
  /** The last read failed (cleared by a successful one). */
  failure: { readonly at: number; readonly error: unknown; readonly unreadable: boolean } | undefined;
  /** What was last reported about the table, so each change is reported once. */
  reported: string;
  stale: boolean;
}

export class Router extends EventEmitter<RouterEvents> {
  readonly #source: RouteSource;
  readonly #servableVersions: (model: string) => readonly number[];
  readonly #knownVersions: (model: string) => readonly number[];
  readonly #random: () => number;
  readonly #describeVersion: (model: string, version: number) => string | undefined;
  readonly #ttlMs: number;
  readonly #maxAgeMs: number;
  readonly #cache: LRUCache<string, CachedTable>;
  readonly #issues = new Map<string, RouteTableIssues>();
  readonly #stale = new Map<string, StaleRouteTable>();
  readonly #unsubscribe: () => void;
  #hits = 0;
  #misses = 0;
  #closed = false;

  constructor(options: RouterOptions) {
    super();
    this.#source = options.source;
    this.#servableVersions = options.servableVersions;
    this.#knownVersions = options.knownVersions;
    this.#random = options.random ?? Math.random;
    this.#describeVersion = options.describeVersion ?? (() => undefined);
    this.#ttlMs = options.cacheTtlMs ?? 250;
    this.#maxAgeMs = Math.max(options.maxAgeMs ?? 1000, this.#ttlMs);
    this.#cache = new LRUCache<string, CachedTable>({
      max: options.cacheMax ?? 10_000,
      // An evicted table is no longer served, so nothing about it is either.
      dispose: (_entry, model) => {
        this.#issues.delete(model);
        this.#stale.delete(model);
      },
    });
    this.#unsubscribe = this.#source.onChange((model) => this.#invalidate(model));
  }

  /**
   * Resolves a request's version spec (an integer, an alias, or nothing for `default`).
   * Throws SwitchyardError: MODEL_NOT_FOUND, INVALID_MODEL_NAME (spec neither an integer nor an
   * alias name), ALIAS_NOT_FOUND, INVALID_ROUTE, VERSION_NOT_FOUND, VERSION_NOT_READY,
   * ROUTING_UNAVAILABLE (table never read and the source is down).
   */
  async resolve(model: string, versionSpec?: string): Promise<Resolution> {
    const known = this.#knownVersions(model);
    // Checked before the table so unknown names cost no Redis round trip and no cache entry.
    if (known.length === 0) {
      throw new SwitchyardError('MODEL_NOT_FOUND', `Model "${model}" is not in the repository`, { details: { model } });
    }

    const spec = versionSpec === undefined || versionSpec === '' ? undefined : versionSpec;
    if (spec !== undefined && /^[0-9]+$/.test(spec)) {
      const version = parseVersion(spec);
      if (version === undefined) {
        throw new SwitchyardError('INVALID_MODEL_NAME', `"${spec}" is not a valid version (a positive integer without leading zeros)`, {
          details: { model, version: spec },
        });
      }
      // An explicit version is the operator's escape hatch: the table never overrides it.
      return { version: this.#servable(model, version, known) };
    }

    const alias = spec ?? DEFAULT_ALIAS;
    if (!isValidAlias(alias)) {
      throw new SwitchyardError('INVALID_MODEL_NAME', `"${alias}" is neither a version nor a valid alias name`, {
        details: { model, alias },
      });
    }

    const table = await this.#table(model);
    let used = alias;
    let found = table.lookup(alias);
    if (found.kind === 'missing' && alias === DEFAULT_ALIAS) {
      used = LATEST_ALIAS;
      found = table.lookup(LATEST_ALIAS);
    }

    switch (found.kind) {
      case 'missing':
        throw new SwitchyardError('ALIAS_NOT_FOUND', `Model "${model}" has no alias "${alias}"`, { details: { model, alias } });
      case 'invalid':
        throw new SwitchyardError(
          'INVALID_ROUTE',
          `Route "${used}" of model "${model}" is invalid: target "${found.target}" ${found.reason}`,
          { details: { model, alias: used, target: found.target, reason: found.reason } },
        );
      case 'latest': {
        const version = this.#latest(model, known);
        return table.shadow ? { version, alias: used, shadow: table.shadow } : { version, alias: used };
      }
      case 'target': {
        const target = found.target;
        const picked = target.kind === 'version' ? target.version : pickSplitVersion(target.parts, this.#random());
        const version = this.#servable(model, picked, known, used);
        return table.shadow ? { version, alias: used, shadow: table.shadow } : { version, alias: used };
      }
    }
  }

  /** The model's table as stored (cached like resolve's), for status pages. */
  async routes(model: string): Promise<Routes> {
    return (await this.#table(model)).routes;
  }

  status(): RouterStatus {
    return {
      source: this.#source.status(),
      cache: { hits: this.#hits, misses: this.#misses, size: this.#cache.size },
      issues: [...this.#issues.values()],
      stale: [...this.#stale.values()],
    };
  }

  /** Stops listening to the source; idempotent. The source belongs to the caller, who closes it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#cache.clear();
  }

  async #table(model: string): Promise<RouteTable> {
    if (this.#closed) throw new SwitchyardError('ROUTING_UNAVAILABLE', 'The router is closed');
    let entry = this.#cache.get(model);
    if (!entry) {
      entry = { table: undefined, readAt: -Infinity, changes: 0, refreshing: undefined, failure: undefined, reported: '', stale: false };
      this.#cache.set(model, entry);
    }
    const now = performance.now();
    const age = now - entry.readAt;
    if (entry.table) {
      // Young enough, or the source just failed (waiting again would only slow every request down).
      const recentFailure = entry.failure !== undefined && now - entry.failure.at < this.#maxAgeMs;
      if (age < this.#maxAgeMs || recentFailure) {
        this.#hits++;
        if (age >= this.#ttlMs) void this.#refresh(model, entry);
        if (recentFailure) this.#noteStale(model, entry);
        return entry.table;
      }
    }
    this.#misses++;
    await this.#refresh(model, entry);
    // When the read failed, the last good table still beats no answer (it was reported as stale,
    // or the key as unreadable).
    if (entry.table) return entry.table;
    const error = entry.failure?.error;
    if (isSwitchyardError(error) && error.code === 'INVALID_ROUTE') throw error;
    throw unavailable(model, error ?? 'no table');
  }

  /** One read at a time per model; callers share it. */
  #refresh(model: string, entry: CachedTable): Promise<void> {
    entry.refreshing ??= this.#read(model, entry).finally(() => {
      entry.refreshing = undefined;
    });
    return entry.refreshing;
  }

  async #read(model: string, entry: CachedTable): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const changes = entry.changes;
      const startedAt = performance.now();
      let routes: Routes | undefined;
      try {
        routes = await this.#source.read(model);
      } catch (error) {
        this.#failed(model, entry, error);
        return;
      }
      if (changes === entry.changes || attempt >= MAX_REREADS) {
        this.#succeeded(model, entry, routes ?? NO_ROUTES, startedAt);
        return;
      }
    }
  }

  #succeeded(model: string, entry: CachedTable, routes: Routes, startedAt: number): void {
    const table = new RouteTable(routes);
    entry.table = table;
    entry.readAt = startedAt;
    entry.failure = undefined;
    if (entry.stale) {
      entry.stale = false;
      this.#stale.delete(model);
      this.#tell('stale', { model, stale: false });
    }
    this.#report(model, entry, { model, problems: table.problems() });
  }

  #failed(model: string, entry: CachedTable, error: unknown): void {
    const unreadable = isSwitchyardError(error) && error.code === 'INVALID_ROUTE';
    entry.failure = { at: performance.now(), error, unreadable };
    if (unreadable) {
      // The table in use keeps serving; its own problems are still the ones that apply.
      this.#report(model, entry, { model, unreadable: (error as Error).message, problems: entry.table?.problems() ?? [] });
    }
    this.#noteStale(model, entry);
  }

  /** Emits the table's issues when they differ from what was last said about them. */
  #report(model: string, entry: CachedTable, issues: RouteTableIssues): void {
    const said = issues.unreadable === undefined && issues.problems.length === 0 ? '' : JSON.stringify([issues.unreadable, issues.problems]);
    if (said === entry.reported) return;
    entry.reported = said;
    if (said === '') this.#issues.delete(model);
    else this.#issues.set(model, issues);
    this.#tell('issues', issues);
  }

  /** A table past maxAgeMs that could not be read again (for a reason other than the key itself) is stale. */
  #noteStale(model: string, entry: CachedTable): void {
    const failure = entry.failure;
    if (entry.stale || !entry.table || !failure || failure.unreadable) return;
    if (performance.now() - entry.readAt < this.#maxAgeMs) return;
    entry.stale = true;
    const reason = failure.error instanceof Error ? failure.error.message : String(failure.error);
    this.#stale.set(model, { model, reason });
    this.#tell('stale', { model, stale: true, reason });
  }

  /** A listener's failure is its own: it must neither fail a request nor stop a background read. */
  #tell<E extends keyof RouterEvents>(event: E, payload: RouterEvents[E][0]): void {
    if (this.#closed) return;
    try {
      // (Widened: TypeScript can not spread a generic event's tuple into emit's overloads.)
      (this.emit as (event: keyof RouterEvents, payload: unknown) => boolean)(event, payload);
    } catch {
      // Nothing to do: the table is applied either way.
    }
  }

  #invalidate(model?: string): void {
    const models = model === undefined ? [...this.#cache.keys()] : [model];
    for (const name of models) {
      // Only tables someone asked for: a change to a model nobody routes to must not fill the cache.
      const entry = this.#cache.peek(name);
      if (entry === undefined) continue;
      entry.changes++;
      // A refresh in place: requests keep the old table until the new one has been read (a read
      // already running sees the bumped count and reads again).
      void this.#refresh(name, entry);
    }
  }

  #latest(model: string, known: readonly number[]): number {
    const servable = this.#servableVersions(model);
    if (servable.length > 0) return Math.max(...servable);
    // Each version's state and reason (a failed first load's is the news the client needs).
    const states = known.map((version) => {
      const why = this.#describeVersion(model, version);
      return why ? `version ${version} is ${why}` : `version ${version} is not READY`;
    });
    throw new SwitchyardError('VERSION_NOT_READY', `Model "${model}" has no READY version (latest): ${states.join('; ')}`, {
      details: { model, alias: LATEST_ALIAS, versions: [...known], states },
      retryAfterSeconds: 1,
    });
  }

  #servable(model: string, version: number, known: readonly number[], alias?: string): number {
    if (this.#servableVersions(model).includes(version)) return version;
    const via = alias === undefined ? '' : ` (route "${alias}")`;
    if (known.includes(version)) {
      const why = this.#describeVersion(model, version);
      throw new SwitchyardError('VERSION_NOT_READY', `Version ${version} of model "${model}"${via} is not READY${why ? `: ${why}` : ''}`, {
        details: { model, version, alias },
        retryAfterSeconds: 1,
      });
    }
    throw new SwitchyardError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}${via}`, {
      details: { model, version, alias },
    });
  }
}

function unavailable(model: string, cause: unknown): SwitchyardError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new SwitchyardError('ROUTING_UNAVAILABLE', `The routing table of model "${model}" could not be read: ${message}`, {
    details: { model },
    cause,
  });
}
