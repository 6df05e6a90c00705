/**
 * Routing tables in Redis: one hash per model at `<prefix>routes:<model>` (field = alias, value =
 * target), shared by every replica.
 *
 * Two connections: one for commands, which fails fast while Redis is away so a request never
 * waits on a dead socket (the router then serves its last known table), and one subscribed to
 * `<prefix>routes:changed`, on which the project's own edits announce the model they touched.
 * Both reconnect forever; each reconnection announces "everything may have changed", because
 * messages published while we were away are lost.
 *
 * Edits run as one Lua script (check, write, remember the idempotency key, publish) that carries a
 * deadline on Redis's own clock: a script Redis gets to only after the gateway stopped waiting
 * refuses itself. So an edit whose answer never came is settled by the time the client hears
 * ROUTES_OUTCOME_UNKNOWN (applied, or never will be) and a read shows which; it can not land
 * minutes later, over edits made since, when a hung Redis wakes up.
 */
import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { SwitchyardError, messageOf } from '../errors.js';
import { isValidModelName } from '../repository/model-name.js';
import {
  checkModelName,
  checkRouteEdit,
  checkRoutesEdit,
  idempotencyKeyReused,
  ROUTE_EDIT_KEY_TTL_MS,
  routeEditFingerprint,
  RouteChangeEmitter,
  type RouteChangeListener,
  type RouteEditOptions,
  type RouteEditResult,
  type RouteSource,
  type RouteSourceStatus,
  type RouteStore,
} from './route-source.js';
import { routesFrom, type Routes } from './route-table.js';
import { closeRedisConnection } from '../redis-connection-close.js';

export const DEFAULT_REDIS_PREFIX = 'switchyard:';

/**
 * One route edit, atomically. KEYS[1] the table's hash, KEYS[2] (optional) the idempotency record.
 * ARGV: operation (replace | set | delete), deadline (ms on Redis's clock), channel, model,
 * fingerprint, record lifetime (ms), then alias/target pairs (replace), one pair (set) or an
 * optional alias (delete). Answers {status, detail}: done/<applied|removed|absent>,
 * replayed/<what the first did>, reused, late/<now>, wrongtype/<type>.
 */
const EDIT_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if now > tonumber(ARGV[2]) then return {'late', tostring(now)} end
if #KEYS > 1 then
  local seen = redis.call('GET', KEYS[2])
  if seen then
    local fingerprint, result = string.match(seen, '^(%S+) (%S+)$')
    if fingerprint ~= ARGV[5] then return {'reused', ''} end
    return {'replayed', result}
  end
end
local operation = ARGV[1]
local kind = redis.call('TYPE', KEYS[1]).ok
local result
if operation == 'replace' then
  redis.call('DEL', KEYS[1])
  for i = 7, #ARGV, 200 do
    redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV)))
  end
  result = 'applied'
else
  if kind ~= 'none' and kind ~= 'hash' then return {'wrongtype', kind} end
  if operation == 'set' then
    redis.call('HSET', KEYS[1], ARGV[7], ARGV[8])
    result = 'applied'
  else
    local removed
    if #ARGV >= 7 then removed = redis.call('HDEL', KEYS[1], ARGV[7]) else removed = redis.call('DEL', KEYS[1]) end
    if removed > 0 then result = 'removed' else result = 'absent' end
  end
end
if #KEYS > 1 then redis.call('SET', KEYS[2], ARGV[5] .. ' ' .. result, 'PX', ARGV[6]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {'done', result}
`;

type EditOperation = 'replace' | 'set' | 'delete';

interface EditScriptClient {
  switchyardRouteEdit(numberOfKeys: number, ...keysAndArgs: string[]): Promise<[string, string]>;
}

export interface RedisRouteSourceOptions {
  /** Redis URL, e.g. `redis://host:6379/0`. Required. */
  url: string;
  /** Key prefix shared by every replica. Default `switchyard:`. */
  prefix?: string;
  /**
   * A command not answered within this many ms fails, so a half-dead link never blocks; an edit
   * Redis runs later than this after it was sent refuses itself. Default 500.
   */
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
  readonly #commandTimeoutMs: number;
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
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 500;
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
      commandTimeout: this.#commandTimeoutMs,
    });
    this.#client.defineCommand('switchyardRouteEdit', { lua: EDIT_SCRIPT });
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

  /** The idempotency record of a route edit (the client's key is hashed: any printable string fits). */
  editKey(idempotencyKey: string): string {
    return `${this.prefix}route-edits:${createHash('sha256').update(idempotencyKey).digest('hex')}`;
  }

  /**
   * Rejects with INVALID_ROUTE when the key exists but is not a hash (someone SET it): that table
   * can not be read, and saying so differs from Redis being away (ROUTING_UNAVAILABLE).
   */
  async read(model: string): Promise<Routes | undefined> {
    await this.#usable();
    const key = this.key(model);
    let hash: Record<string, string> | undefined;
    for (let attempt = 0; hash === undefined; attempt++) {
      try {
        hash = await this.#client.hgetall(key);
      } catch (error) {
        if (!isWrongType(error)) throw this.#unavailable(`reading the routes of model "${model}"`, error);
        const type = await this.#client.type(key).catch(() => 'value of another type');
        // Replaced between the two commands (e.g. DEL then HSET): the new one is worth reading.
        if ((type === 'hash' || type === 'none') && attempt === 0) continue;
        throw new SwitchyardError('INVALID_ROUTE', `The routing table of model "${model}" can not be read: key "${key}" holds a ${type}, not a hash`, {
          details: { model, key, type },
        });
      }
    }
    this.#commandError = undefined;
    const routes = routesFrom(Object.entries(hash));
    return Object.keys(routes).length === 0 ? undefined : routes;
  }

  /** Every table under the prefix; keys that are not hashes, or not under a model name, are no tables and are left out. */
  async readAll(): Promise<Record<string, Routes>> {
    await this.#usable();
    const keyPrefix = `${this.prefix}routes:`;
    const tables = Object.create(null) as Record<string, Routes>;
    try {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await this.#client.scan(cursor, 'MATCH', `${escapeGlob(keyPrefix)}*`, 'COUNT', 500);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      const unique = [...new Set(keys)].filter((key) => isValidModelName(key.slice(keyPrefix.length))).sort();
      const pipeline = this.#client.pipeline();
      for (const key of unique) pipeline.hgetall(key);
      const replies = (await pipeline.exec()) ?? [];
      unique.forEach((key, index) => {
        const [error, hash] = replies[index] ?? [];
        if (error || !hash || typeof hash !== 'object') return;
        const routes = routesFrom(Object.entries(hash as Record<string, string>));
        if (Object.keys(routes).length > 0) tables[key.slice(keyPrefix.length)] = routes;
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

  async setRoutes(model: string, routes: Routes, options?: RouteEditOptions): Promise<RouteEditResult & { routes: Routes }> {
    const checked = checkRoutesEdit(model, routes);
    const fingerprint = routeEditFingerprint('replace', model, undefined, checked);
    const { replayed } = await this.#edit('replace', model, fingerprint, Object.entries(checked).flat(), options);
    return { replayed, routes: checked };
  }

  async setRoute(model: string, alias: string, target: string, options?: RouteEditOptions): Promise<RouteEditResult> {
    const checked = checkRouteEdit(model, alias, target);
    const fingerprint = routeEditFingerprint('set', model, alias, routesFrom([[alias, checked]]));
    const { replayed } = await this.#edit('set', model, fingerprint, [alias, checked], options);
    return { replayed };
  }

  async deleteRoute(model: string, alias?: string, options?: RouteEditOptions): Promise<RouteEditResult & { removed: boolean }> {
    checkModelName(model);
    const fingerprint = routeEditFingerprint('delete', model, alias);
    const { replayed, result } = await this.#edit('delete', model, fingerprint, alias === undefined ? [] : [alias], options);
    return { replayed, removed: result === 'removed' };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#changes.clear();
      const closed = new SwitchyardError('ROUTING_UNAVAILABLE', 'The routing table source is closed');
      for (const waiter of this.#readyWaiters) waiter.reject(closed);
      this.#readyWaiters.clear();
      await Promise.all([closeRedisConnection(this.#client), closeRedisConnection(this.#subscriber)]);
    })();
    return this.#closed;
  }

  /**
   * Runs the edit script. First Redis's clock (TIME), which fixes the script's deadline: when that
   * goes unanswered, nothing that writes was sent (ROUTING_UNAVAILABLE, nothing changed). Once the
   * script is sent, a reply error is a known refusal, but a timeout or a lost connection leaves the
   * outcome to the deadline: ROUTES_OUTCOME_UNKNOWN, settled by the time it is answered.
   */
  async #edit(
    operation: EditOperation,
    model: string,
    fingerprint: string,
    fields: string[],
    options: RouteEditOptions | undefined,
  ): Promise<{ replayed: boolean; result: string }> {
    await this.#usable();
    const doing = `writing the routes of model "${model}"`;
    let deadline: number;
    try {
      const [seconds, micros] = await this.#client.time();
      deadline = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + this.#commandTimeoutMs;
    } catch (error) {
      throw this.#unavailable(`${doing} (nothing was written)`, error);
    }
    const key = options?.idempotencyKey;
    const keys = key === undefined ? [this.key(model)] : [this.key(model), this.editKey(key)];
    const args = [operation, String(deadline), this.channel, model, fingerprint, String(ROUTE_EDIT_KEY_TTL_MS), ...fields];
    let status: string;
    let detail: string;
    try {
      [status, detail] = await (this.#client as unknown as EditScriptClient).switchyardRouteEdit(keys.length, ...keys, ...args);
    } catch (error) {
      if (isReplyError(error)) throw this.#unavailable(`${doing} (Redis refused the edit; nothing was written)`, error);
      throw this.#outcomeUnknown(model, error);
    }
    this.#commandError = undefined;
    switch (status) {
      case 'done':
        // This replica applies its own edit at once rather than waiting for the message to come back.
        this.#changes.emit(model);
        return { replayed: false, result: detail };
      case 'replayed':
        return { replayed: true, result: detail };
      case 'reused':
        throw idempotencyKeyReused(key ?? '', model);
      case 'wrongtype':
        throw new SwitchyardError(
          'INVALID_ROUTE',
          `The routing table of model "${model}" is not a hash (key "${this.key(model)}" holds a ${detail}); nothing was written. ` +
            'Replace the whole table (PUT /admin/routes/<model>) or delete the key',
          { details: { model, key: this.key(model), type: detail } },
        );
      default:
        // 'late': Redis got to it after the deadline and refused it, as designed.
        throw new SwitchyardError('ROUTING_UNAVAILABLE', `Redis ran the edit of model "${model}" too late and refused it; nothing was written`, {
          details: { model },
          retryAfterSeconds: 1,
        });
    }
  }

  #outcomeUnknown(model: string, cause: unknown): SwitchyardError {
    const message = messageOf(cause);
    this.#commandError = message;
    return new SwitchyardError(
      'ROUTES_OUTCOME_UNKNOWN',
      `Redis did not answer the edit of model "${model}" within ${this.#commandTimeoutMs} ms (${message}): it may or may not have been applied, ` +
        `and it can no longer be applied later. GET /admin/routes/${model} shows which; repeating the edit with the same Idempotency-Key is safe`,
      { details: { model, check: `GET /admin/routes/${model}` }, retryAfterSeconds: 1, cause },
    );
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
        this.#connectionError = `subscribing to ${this.channel}: ${messageOf(error)}`;
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
    const message = messageOf(cause);
    this.#commandError = message;
    return new SwitchyardError('ROUTING_UNAVAILABLE', `Redis failed while ${doing}: ${message}`, { cause });
  }
}

/** Redis answered with an error (as opposed to not answering). */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

function isWrongType(error: unknown): boolean {
  return isReplyError(error) && (error as Error).message.startsWith('WRONGTYPE');
}


/** SCAN MATCH treats these as pattern syntax; a prefix is literal. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

