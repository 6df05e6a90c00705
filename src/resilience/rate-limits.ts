/**
 * Rate limits per client and per model. With Redis every replica counts in the same keys
 * (RateLimiterRedis: one atomic script per check), so N replicas enforce one limit together;
 * each Redis limiter is insured by a RateLimiterMemory of the same shape, so while Redis is down
 * or slow a request is counted per replica instead of failing. Without Redis the memory limiters
 * are the limit. Under several HTTP loops (src/loops/) the memory counters live in the primary
 * process (RateLimiterCluster, over the cluster IPC channel), so the loops count together.
 *
 * Counters live at `<prefix>rl:<scope>:<points>p<seconds>s:<key>`: a changed limit starts fresh
 * counters instead of reinterpreting old ones.
 */
import cluster from 'node:cluster';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterCluster, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ModelLimitOverrides } from './model-limit-overrides.js';
import { windowOf, type RateLimitPolicy, type RateLimitWindow } from './rate-limit-policy.js';
import { closeRedisConnection } from '../redis-connection-close.js';

export type RateLimitScope = 'client' | 'model';

/** Why a request was refused: the limit that refused it and when to come back. */
export interface RateLimitRefusal {
  readonly scope: RateLimitScope;
  /** Requests per window (the burst). */
  readonly limit: number;
  readonly windowSeconds: number;
  /** Until the window resets (then the full burst is available again). */
  readonly retryAfterMs: number;
}

export interface RateLimitsOptions {
  /** Every client's limit (a client = an API key, else an IP address). Default none. */
  readonly client?: RateLimitPolicy | undefined;
  /** Every model's limit, across all clients; Redis overrides it per model. Default none. */
  readonly model?: RateLimitPolicy | undefined;
  /** Shared counters and per-model overrides. Default none: per-process counters, no overrides. */
  readonly redis?: { readonly url: string; readonly prefix: string } | undefined;
  /** Age after which a per-model override is re-read. Default 250 ms. */
  readonly overrideTtlMs?: number | undefined;
  /** A Redis command not answered within this many ms goes to the memory limiter. Default 250. */
  readonly commandTimeoutMs?: number | undefined;
  readonly logger?: Logger | undefined;
  /** This process is one of several HTTP loops: count in the primary's memory, not this loop's. */
  readonly acrossLoops?: boolean | undefined;
}

/** How long a loop waits for the primary's count before letting the request through. */
const LOOP_COUNT_TIMEOUT_MS = 1_000;

export class RateLimits {
  readonly #clientPolicy: RateLimitPolicy | undefined;
  readonly #modelPolicy: RateLimitPolicy | undefined;
  readonly #redis: Redis | undefined;
  readonly #prefix: string;
  readonly #overrides: ModelLimitOverrides | undefined;
  readonly #limiters = new Map<string, { limiter: RateLimiterAbstract; window: RateLimitWindow }>();
  readonly #logger: Logger | undefined;
  readonly #acrossLoops: boolean;
  #closed: Promise<void> | undefined;

  constructor(options: RateLimitsOptions) {
    this.#clientPolicy = options.client;
    this.#modelPolicy = options.model;
    this.#logger = options.logger;
    this.#acrossLoops = options.acrossLoops === true && cluster.isWorker;
    this.#prefix = options.redis?.prefix ?? '';
    if (options.redis) {
      this.#redis = new Redis(options.redis.url, {
        // Fail fast: a request never waits on a dead connection; the insurance limiter answers.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: options.commandTimeoutMs ?? 250,
        retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 1000),
        connectionName: 'switchyard-ratelimits',
      });
      this.#redis.on('error', (error: Error) => this.#logger?.debug({ err: error }, 'rate limit Redis connection error'));
      this.#overrides = new ModelLimitOverrides({
        client: this.#redis,
        prefix: this.#prefix,
        ttlMs: options.overrideTtlMs ?? 250,
        logger: options.logger,
      });
    }
  }

  /** Resolves once Redis answers (or at once without Redis), or after `timeoutMs` either way. */
  ready(timeoutMs = 2000): Promise<void> {
    const redis = this.#redis;
    if (!redis || redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      redis.on('ready', done);
    });
  }

  /**
   * Counts one request of `client` to `model` (undefined: no model limit applies) against both
   * limits; resolves undefined when it may proceed, else the refusal that waits longest.
   */
  async check(client: string, model: string | undefined): Promise<RateLimitRefusal | undefined> {
    const clientCheck = this.#clientPolicy && this.#consume('client', this.#clientPolicy, client);
    let modelCheck: Promise<RateLimitRefusal | undefined> | undefined;
    if (model !== undefined) {
      const override = this.#overrides && (await this.#overrides.lookup(model));
      const policy = override === 'unlimited' ? undefined : (override ?? this.#modelPolicy);
      if (policy) modelCheck = this.#consume('model', policy, model);
    }
    const [byClient, byModel] = await Promise.all([clientCheck, modelCheck]);
    if (byClient && byModel) return byClient.retryAfterMs >= byModel.retryAfterMs ? byClient : byModel;
    return byClient ?? byModel;
  }

  /** Stops using Redis. Safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const redis = this.#redis;
      if (redis) await closeRedisConnection(redis);
    })();
    return this.#closed;
  }

  async #consume(scope: RateLimitScope, policy: RateLimitPolicy, key: string): Promise<RateLimitRefusal | undefined> {
    const { limiter, window } = this.#limiter(scope, policy);
    try {
      await limiter.consume(key);
      return undefined;
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) {
        return { scope, limit: window.points, windowSeconds: window.durationSeconds, retryAfterMs: outcome.msBeforeNext };
      }
      // Both Redis and the insurance failed (not expected of memory): let the request through.
      this.#logger?.warn({ err: outcome, scope }, 'rate limit not checked');
      return undefined;
    }
  }

  #limiter(scope: RateLimitScope, policy: RateLimitPolicy): { limiter: RateLimiterAbstract; window: RateLimitWindow } {
    const window = windowOf(policy);
    const id = `${scope}:${window.points}p${window.durationSeconds}s`;
    let entry = this.#limiters.get(id);
    if (entry === undefined) {
      const shape = { keyPrefix: `${this.#prefix}rl:${id}`, points: window.points, duration: window.durationSeconds };
      const memory = this.#acrossLoops ? new RateLimiterCluster({ ...shape, timeoutMs: LOOP_COUNT_TIMEOUT_MS }) : new RateLimiterMemory(shape);
      const limiter = this.#redis
        ? new RateLimiterRedis({ ...shape, storeClient: this.#redis, rejectIfRedisNotReady: true, insuranceLimiter: memory })
        : memory;
      entry = { limiter, window };
      this.#limiters.set(id, entry);
    }
    return entry;
  }
}
