/**
 * Routing tables in Redis: one hash per model at `<prefix>routes:<model>` (field = alias, value =
 * target), shared by every replica.
 *
 * Two connections: one for commands, which fails fast while Redis is away so a request never
 * waits on a dead socket (the router then serves its last known table), and one subscribed to
 * `<prefix>routes:changed`, on which the project's own edits announce the model they touched.
 * Both reconnect forever; each reconnection announces "everything may have changed", because
 * messages published while we were away are lost.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { SwitchyardError } from '../errors.js';
import {
  checkModelName,
  checkRouteEdit,
  checkRoutesEdit,
  RouteChangeEmitter,
  type RouteChangeListener,
  type RouteSource,
  type RouteSourceStatus,
  type RouteStore,
} from './route-source.js';
import type { Routes } from './route-table.js';

export const DEFAULT_REDIS_PREFIX = 'switchyard:';

export interface RedisRouteSourceOptions {
  /** Redis URL, e.g. `redis://host:6379/0`. Required. */
  url: string;
  /** Key prefix shared by every replica. Default `switchyard:`. */
  prefix?: string;
  /** A command not answered within this many ms fails, so a half-dead link never blocks. Default 500. */
  commandTimeoutMs?: number;
  /** How long reads at start-up wait for the first connection (once; afterwards they fail at once). Default 2000. */
  initialConnectWaitMs?: number;
  /** Upper bound of the growing delay between reconnection attempts. Default 1000. */
  maxReconnectDelayMs?: number;
  /** Extra ioredis options (TLS, username, password). Default none. */
  redisOptions?: RedisOptions;
}

export class RedisRouteSource implements RouteSource, RouteStore {
  readonly prefix: string;
  /** The pub/sub channel project edits are announced on (message = model name). */
  readonly channel: string;

  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #changes = new RouteChangeEmitter();
  readonly #initialConnectWaitMs: number;
  #everReady = false;
  #subscribed = false;
  #firstConnection: Promise<void> | undefined;
  readonly #readyWaiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  // Kept apart: a connection error clears on reconnection, a command error on the next success.
  #connectionError: string | undefined;
  #commandError: string | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: RedisRouteSourceOptions) {
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    this.channel = `${this.prefix}routes:changed`;
    this.#initialConnectWaitMs = options.initialConnectWaitMs ?? 2000;
    const maxDelay = options.maxReconnectDelayMs ?? 1000;
    const base: RedisOptions = {
      ...options.redisOptions,
      // Never give up: the table must come back on its own once Redis does.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      connectionName: 'switchyard-routes',
    };

    this.#client = new Redis(options.url, {
      ...base,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 500,
    });
    this.#subscriber = new Redis(options.url, {
      ...base,
      enableOfflineQueue: false,
      // Subscribed by hand on every 'ready', so we know when the subscription is live again.
      autoResubscribe: false,
    });

    for (const connection of [this.#client, this.#subscriber]) {
      connection.on('error', (error: Error) => {
        this.#connectionError = error.message;
      });
    }
    this.#client.on('ready', () => {
      this.#everReady = true;
      this.#connectionChanged();
      this.#changes.emit();
    });
    this.#subscriber.on('ready', () => this.#subscribe());
    this.#subscriber.on('close', () => {
      this.#subscribed = false;
    });
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.#changes.emit(message === '' ? undefined : message);
    });
  }

  /** Resolves once commands work and the change channel is subscribed; rejects if closed first. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new SwitchyardError('ROUTING_UNAVAILABLE', 'The routing table source is closed'));
    if (this.#connected()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.#readyWaiters.add({ resolve, reject }));
  }

  key(model: string): string {
    return `${this.prefix}routes:${model}`;
  }

  async read(model: string): Promise<Routes | undefined> {
    await this.#usable();
    try {
      const hash = await this.#client.hgetall(this.key(model));
      this.#commandError = undefined;
      return Object.keys(hash).length === 0 ? undefined : hash;
    } catch (error) {
      throw this.#unavailable(`reading the routes of model "${model}"`, error);
    }
  }

  async readAll(): Promise<Record<string, Routes>> {
    await this.#usable();
    const keyPrefix = `${this.prefix}routes:`;
    const tables: Record<string, Routes> = {};
    try {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await this.#client.scan(cursor, 'MATCH', `${escapeGlob(keyPrefix)}*`, 'COUNT', 500);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      const unique = [...new Set(keys)].sort();
      const pipeline = this.#client.pipeline();
      for (const key of unique) pipeline.hgetall(key);
      const replies = (await pipeline.exec()) ?? [];
      unique.forEach((key, index) => {
        const [error, hash] = replies[index] ?? [];
        // Another kind of key under our prefix is not a table; skip it rather than fail them all.
        if (error || !hash || typeof hash !== 'object') return;
        if (Object.keys(hash).length > 0) tables[key.slice(keyPrefix.length)] = hash as Routes;
      });
    } catch (error) {
      throw this.#unavailable('listing the routing tables', error);
    }
    return tables;
  }

  onChange(listener: RouteChangeListener): () => void {
    return this.#changes.on(listener);
  }

  status(): RouteSourceStatus {
    const connected = this.#connected();
    const lastError = this.#connectionError ?? this.#commandError;
    return lastError === undefined ? { kind: 'redis', connected } : { kind: 'redis', connected, lastError };
  }

  async setRoutes(model: string, routes: Routes): Promise<void> {
    const checked = checkRoutesEdit(model, routes);
    const key = this.key(model);
    const transaction = this.#client.multi().del(key);
    if (Object.keys(checked).length > 0) transaction.hset(key, checked);
    await this.#write(model, transaction.publish(this.channel, model));
  }

  async setRoute(model: string, alias: string, target: string): Promise<void> {
    const checked = checkRouteEdit(model, alias, target);
    await this.#write(model, this.#client.multi().hset(this.key(model), alias, checked).publish(this.channel, model));
  }

  async deleteRoute(model: string, alias?: string): Promise<boolean> {
    checkModelName(model);
    const key = this.key(model);
    const transaction = alias === undefined ? this.#client.multi().del(key) : this.#client.multi().hdel(key, alias);
    const replies = await this.#write(model, transaction.publish(this.channel, model));
    return Number(replies[0]?.[1] ?? 0) > 0;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#changes.clear();
      const closed = new SwitchyardError('ROUTING_UNAVAILABLE', 'The routing table source is closed');
      for (const waiter of this.#readyWaiters) waiter.reject(closed);
      this.#readyWaiters.clear();
      await Promise.all([quit(this.#client), quit(this.#subscriber)]);
    })();
    return this.#closed;
  }

  /** Runs a MULTI whose last command is the PUBLISH, so the write and its announcement are one step. */
  async #write(model: string, transaction: ReturnType<Redis['multi']>): Promise<[Error | null, unknown][]> {
    await this.#usable();
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await transaction.exec();
    } catch (error) {
      throw this.#unavailable(`writing the routes of model "${model}"`, error);
    }
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw this.#unavailable(`writing the routes of model "${model}"`, failed?.[0] ?? 'transaction aborted');
    this.#commandError = undefined;
    // This replica applies its own edit at once rather than waiting for the message to come back.
    this.#changes.emit(model);
    return replies;
  }

  /**
   * Fails at once when the connection is down, except at start-up, when the first connection is
   * briefly worth waiting for: otherwise the first requests after boot would all fail.
   */
  async #usable(): Promise<void> {
    if (this.#closed) throw new SwitchyardError('ROUTING_UNAVAILABLE', 'The routing table source is closed');
    if (this.#clientReady()) return;
    if (!this.#everReady) {
      // One wait, shared by the requests that arrive during boot; once over, failures are immediate.
      this.#firstConnection ??= new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.#client.off('ready', done);
          resolve();
        };
        const timer = setTimeout(done, this.#initialConnectWaitMs);
        this.#client.on('ready', done);
      });
      await this.#firstConnection;
      if (this.#clientReady()) return;
    }
    throw new SwitchyardError('ROUTING_UNAVAILABLE', `Redis is not connected (the connection is ${this.#client.status})`);
  }

  #subscribe(): void {
    this.#subscriber.subscribe(this.channel).then(
      () => {
        this.#subscribed = true;
        this.#connectionChanged();
        // Announcements made while we were not listening are lost: any table may have changed.
        this.#changes.emit();
      },
      (error: unknown) => {
        this.#connectionError = `subscribing to ${this.channel}: ${errorMessage(error)}`;
        // A failure on a live connection would otherwise last until the next reconnection.
        if (!this.#closed && this.#subscriber.status === 'ready') setTimeout(() => this.#subscribe(), 1000).unref();
      },
    );
  }

  #connected(): boolean {
    return this.#client.status === 'ready' && this.#subscriber.status === 'ready' && this.#subscribed;
  }

  #connectionChanged(): void {
    if (!this.#connected()) return;
    this.#connectionError = undefined;
    for (const waiter of this.#readyWaiters) waiter.resolve();
    this.#readyWaiters.clear();
  }

  #clientReady(): boolean {
    return this.#client.status === 'ready';
  }

  #unavailable(doing: string, cause: unknown): SwitchyardError {
    const message = errorMessage(cause);
    this.#commandError = message;
    return new SwitchyardError('ROUTING_UNAVAILABLE', `Redis failed while ${doing}: ${message}`, { cause });
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** SCAN MATCH treats these as pattern syntax; a prefix is literal. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

async function quit(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  try {
    // QUIT only works on a live connection; otherwise drop it (and stop reconnecting) at once.
    if (connection.status === 'ready') await connection.quit();
    else connection.disconnect();
  } catch {
    connection.disconnect();
  }
}
