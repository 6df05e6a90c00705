/**
 * The two ways the operator CLI reaches the gateway: the admin API over HTTP (every command), or
 * Redis directly (route commands and `nodes ls`) through RedisRouteSource's store methods, which
 * validate and publish exactly as the admin API does, so every replica applies the edit within
 * 100 ms, and through one read of the node heartbeats (src/cluster/node-directory.ts).
 */
import { Redis } from 'ioredis';
import { NodeDirectory } from '../cluster/node-directory.js';
import { isSwitchyardError } from '../errors.js';
import { closeRedisConnection } from '../redis-connection-close.js';
import { DEFAULT_REDIS_PREFIX, RedisRouteSource } from '../routing/redis-route-source.js';
import type { Routes } from '../routing/route-table.js';

/** A failure to report: `exitCode` 1 for a refused or failed operation, 2 for a usage mistake. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export interface CliBackend {
  /** The model's table; `{}` when it has none. */
  routes(model: string): Promise<Record<string, string>>;
  allRoutes(): Promise<Record<string, Routes>>;
  /** Replaces the model's whole table; returns it as written. A repeat with the same idempotency key changes nothing. */
  setRoutes(model: string, routes: Routes, force: boolean, idempotencyKey?: string): Promise<Record<string, string>>;
  /** True when something was removed (by this call, or by the first one with the same idempotency key). */
  deleteRoutes(model: string, alias?: string, idempotencyKey?: string): Promise<boolean>;
  listModels(): Promise<unknown>;
  loadModel(model: string): Promise<unknown>;
  unloadModel(model: string): Promise<unknown>;
  /** GET /cluster's answer; from Redis: the heartbeats only (no self). */
  listNodes(): Promise<ClusterAnswer>;
  /** `/admin/rollouts[/<model>[/abort]]` (admin API only). */
  rollouts(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/** The part of GET /cluster the CLI prints. */
export interface ClusterAnswer {
  readonly self?: NodeLine | undefined;
  readonly stale: boolean;
  readonly nodes: readonly NodeLine[];
  readonly backends?: ReadonlyArray<{ readonly name: string; readonly url: string; readonly healthy: boolean; readonly models: Record<string, readonly number[]>; readonly lastError?: string | undefined }> | undefined;
}

export interface NodeLine {
  readonly id: string;
  readonly url: string;
  readonly heartbeatAt: number;
  readonly eventLoopUtilization: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly versions: ReadonlyArray<{ readonly model: string; readonly version: number; readonly inFlight: number; readonly queued: number }>;
  readonly health?: { readonly ejected: boolean; readonly breaker: string } | undefined;
}

export interface ApiBackendOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** ADMIN_TOKEN; without one, the gateway answers 401. */
  token?: string | undefined;
}

export class ApiBackend implements CliBackend {
  readonly #base: string;
  readonly #token: string | undefined;

  constructor(options: ApiBackendOptions) {
    this.#base = options.url.replace(/\/+$/, '');
    this.#token = options.token;
  }

  routes(model: string): Promise<Record<string, string>> {
    return this.#call('GET', `/admin/routes/${encodeURIComponent(model)}`) as Promise<Record<string, string>>;
  }

  allRoutes(): Promise<Record<string, Routes>> {
    return this.#call('GET', '/admin/routes') as Promise<Record<string, Routes>>;
  }

  setRoutes(model: string, routes: Routes, force: boolean, idempotencyKey?: string): Promise<Record<string, string>> {
    const query = force ? '?force=true' : '';
    return this.#call('PUT', `/admin/routes/${encodeURIComponent(model)}${query}`, routes, idempotencyKey) as Promise<Record<string, string>>;
  }

  async deleteRoutes(model: string, alias?: string, idempotencyKey?: string): Promise<boolean> {
    const path = `/admin/routes/${encodeURIComponent(model)}${alias === undefined ? '' : `/${encodeURIComponent(alias)}`}`;
    const answer = (await this.#call('DELETE', path, undefined, idempotencyKey)) as { removed?: boolean };
    return answer.removed === true;
  }

  listModels(): Promise<unknown> {
    return this.#call('GET', '/admin/models');
  }

  loadModel(model: string): Promise<unknown> {
    return this.#call('POST', `/admin/models/${encodeURIComponent(model)}/load`);
  }

  unloadModel(model: string): Promise<unknown> {
    return this.#call('POST', `/admin/models/${encodeURIComponent(model)}/unload`);
  }

  listNodes(): Promise<ClusterAnswer> {
    return this.#call('GET', '/cluster') as Promise<ClusterAnswer>;
  }

  rollouts(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    return this.#call(method, `/admin/rollouts${path}`, body);
  }

  async close(): Promise<void> {}

  async #call(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(this.#base + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new CliError(`cannot reach ${this.#base}: ${cause}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      const what = error?.code ? `${error.code}: ${error.message ?? ''}` : text.slice(0, 200) || response.statusText;
      const hint = response.status === 401 ? ' (pass --token or set ADMIN_TOKEN)' : '';
      throw new CliError(`${method} ${path} failed with ${response.status} ${what}${hint}`);
    }
    return parsed;
  }
}

export interface RedisBackendOptions {
  /** e.g. `redis://127.0.0.1:6379`. */
  url: string;
  /** The gateways' REDIS_PREFIX. Default `switchyard:`. */
  prefix?: string | undefined;
}

export class RedisBackend implements CliBackend {
  readonly #source: RedisRouteSource;
  readonly #url: string;
  readonly #prefix: string;

  constructor(options: RedisBackendOptions) {
    this.#url = options.url;
    this.#prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    this.#source = new RedisRouteSource({ url: options.url, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
  }

  async routes(model: string): Promise<Record<string, string>> {
    return { ...((await this.#redis(() => this.#source.read(model))) ?? {}) };
  }

  allRoutes(): Promise<Record<string, Routes>> {
    return this.#redis(() => this.#source.readAll());
  }

  /** `force` has no effect: without the registry, Redis mode can not check that versions exist. */
  async setRoutes(model: string, routes: Routes, _force: boolean, idempotencyKey?: string): Promise<Record<string, string>> {
    const written = await this.#redis(() => this.#source.setRoutes(model, routes, { idempotencyKey }));
    return { ...written.routes };
  }

  async deleteRoutes(model: string, alias?: string, idempotencyKey?: string): Promise<boolean> {
    return (await this.#redis(() => this.#source.deleteRoute(model, alias, { idempotencyKey }))).removed;
  }

  listModels(): Promise<unknown> {
    return Promise.reject(apiOnly('models ls'));
  }

  loadModel(): Promise<unknown> {
    return Promise.reject(apiOnly('models load'));
  }

  unloadModel(): Promise<unknown> {
    return Promise.reject(apiOnly('models unload'));
  }

  /** One read of every heartbeat under the prefix, bounded in time; a Redis that does not answer is an error, not an empty list. */
  async listNodes(): Promise<ClusterAnswer> {
    const redis = new Redis(this.#url, { enableOfflineQueue: true, maxRetriesPerRequest: 0, commandTimeout: 2_000, connectTimeout: 2_000, retryStrategy: () => null, lazyConnect: true });
    redis.on('error', () => {});
    try {
      await redis.connect().catch((error: Error) => {
        throw new CliError(`cannot reach Redis at ${this.#url}: ${error.message}`);
      });
      const directory = new NodeDirectory({ redis, prefix: this.#prefix, timeoutMs: 5_000 });
      await directory.refresh();
      if (directory.stale) throw new CliError(`cannot read the heartbeats from Redis: ${directory.lastError ?? 'unknown error'}`);
      return { stale: false, nodes: directory.nodes() };
    } finally {
      await closeRedisConnection(redis);
    }
  }

  rollouts(): Promise<unknown> {
    return Promise.reject(apiOnly('rollout'));
  }

  close(): Promise<void> {
    return this.#source.close();
  }

  async #redis<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isSwitchyardError(error)) throw new CliError(`${error.code}: ${error.message}`);
      throw error;
    }
  }
}

function apiOnly(command: string): CliError {
  return new CliError(`"${command}" talks to a gateway: pass --url http://host:8080 (and --token or ADMIN_TOKEN)`, 2);
}
