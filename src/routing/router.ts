/**
 * Router.resolve(model, versionSpec) -> the concrete version a request runs on.
 *
 * Tables are cached per model in an LRU whose entries go stale after cacheTtlMs (so raw
 * `redis-cli HSET` edits show within a second) but are still served while a background refresh
 * runs, and kept when that refresh fails: once a model's table has been read, a request never
 * waits on the source again, and a Redis outage serves the last known table. Change
 * notifications from the source refresh the affected tables at once.
 */
import { LRUCache } from 'lru-cache';
import { SwitchyardError } from '../errors.js';
import { parseVersion } from '../repository/model-name.js';
import type { RouteSource, RouteSourceStatus } from './route-source.js';
import { RouteTable, type Routes } from './route-table.js';
import { DEFAULT_ALIAS, isValidAlias, LATEST_ALIAS, pickSplitVersion } from './route-target.js';

export interface RouterOptions {
  /** Where tables come from. Required. The router does not close it. */
  source: RouteSource;
  /** Versions of the model that can take requests now (READY). Required. */
  servableVersions: (model: string) => readonly number[];
  /** Every version the repository knows for the model, in any state. Required. */
  knownVersions: (model: string) => readonly number[];
  /** Why a version can not take requests (its state and last load error), for error messages. Default none. */
  describeVersion?: (model: string, version: number) => string | undefined;
  /** Age after which a cached table is refreshed (still served meanwhile). Default 250 ms. */
  cacheTtlMs?: number;
  /** Most models whose tables are cached. Default 10,000. */
  cacheMax?: number;
  /** Source of split draws in [0, 1). Default Math.random. */
  random?: () => number;
}

export interface Resolution {
  readonly version: number;
  /** The alias the version was reached through (`latest` for an unversioned request without `default`); absent for an integer request. */
  readonly alias?: string;
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
}

/**
 * A source that keeps changing could make a refresh re-read forever; after this many re-reads the
 * table is taken as is, and the next change refreshes it again.
 */
const MAX_REREADS = 3;

export class Router {
  readonly #source: RouteSource;
  readonly #servableVersions: (model: string) => readonly number[];
  readonly #knownVersions: (model: string) => readonly number[];
  readonly #random: () => number;
  readonly #describeVersion: (model: string, version: number) => string | undefined;
  readonly #cache: LRUCache<string, RouteTable>;
  readonly #unsubscribe: () => void;
  // Bumped on every change notification, so a read that started before a change is retried.
  #generation = 0;
  #hits = 0;
  #misses = 0;
  #closed = false;

  constructor(options: RouterOptions) {
    this.#source = options.source;
    this.#servableVersions = options.servableVersions;
    this.#knownVersions = options.knownVersions;
    this.#random = options.random ?? Math.random;
    this.#describeVersion = options.describeVersion ?? (() => undefined);
    this.#cache = new LRUCache<string, RouteTable>({
      max: options.cacheMax ?? 10_000,
      ttl: options.cacheTtlMs ?? 250,
      allowStale: true,
      allowStaleOnFetchRejection: true,
      noDeleteOnFetchRejection: true,
      fetchMethod: (model) => this.#readTable(model),
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
      case 'latest':
        return { version: this.#latest(model, known), alias: used };
      case 'target': {
        const target = found.target;
        const version = target.kind === 'version' ? target.version : pickSplitVersion(target.parts, this.#random());
        return { version: this.#servable(model, version, known, used), alias: used };
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
    const status: LRUCache.Status<string, RouteTable> = {};
    let table: RouteTable | undefined;
    try {
      table = await this.#cache.fetch(model, { status });
    } catch (error) {
      this.#misses++;
      throw unavailable(model, error);
    }
    if (status.fetch === 'hit' || status.returnedStale) this.#hits++;
    else this.#misses++;
    if (table === undefined) throw unavailable(model, 'no table');
    return table;
  }

  async #readTable(model: string): Promise<RouteTable> {
    for (let attempt = 0; ; attempt++) {
      const generation = this.#generation;
      const routes = await this.#source.read(model);
      if (generation === this.#generation || attempt >= MAX_REREADS) return new RouteTable(routes ?? {});
    }
  }

  #invalidate(model?: string): void {
    this.#generation++;
    const models = model === undefined ? [...this.#cache.keys()] : [model];
    for (const name of models) {
      // Only tables someone asked for: a change to a model nobody routes to must not fill the cache.
      if (this.#cache.peek(name, { allowStale: true }) === undefined) continue;
      // A refresh in place: requests keep the old table until the new one has been read.
      this.#cache.fetch(name, { forceRefresh: true }).catch(() => undefined);
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
