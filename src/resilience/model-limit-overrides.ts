/**
 * Per-model rate limits set in Redis, in the hash `<prefix>ratelimits:<model>` (fields `rps` and
 * `burst`; `rps` 0 lifts the model's limit), read through a short cache like the router's: an
 * entry older than the TTL is served while one background read refreshes it, so `redis-cli HSET`
 * applies within about the TTL and a dead Redis never holds a request (its connection fails
 * fast; the last known value stays in force).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { parsePolicy, type RateLimitPolicy } from './rate-limit-policy.js';

/** A policy for the model, 'unlimited' (rps 0), or undefined: no override, the config applies. */
export type ModelLimitOverride = RateLimitPolicy | 'unlimited' | undefined;

export interface ModelLimitOverridesOptions {
  /** A fail-fast connection (no offline queue, a command timeout). Required. */
  readonly client: Redis;
  /** Key prefix shared by every replica. Required. */
  readonly prefix: string;
  /** Age after which an entry is refreshed in the background. Default 250 ms. */
  readonly ttlMs?: number;
  readonly logger?: Logger | undefined;
}

interface Entry {
  value: ModelLimitOverride;
  fetchedAt: number;
  /** The raw fields last seen, so a bad value is logged once, not on every refresh. */
  raw: string;
  refreshing: Promise<void> | undefined;
}

export class ModelLimitOverrides {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #logger: Logger | undefined;
  readonly #entries = new Map<string, Entry>();

  constructor(options: ModelLimitOverridesOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix;
    this.#ttlMs = options.ttlMs ?? 250;
    this.#logger = options.logger;
  }

  key(model: string): string {
    return `${this.#prefix}ratelimits:${model}`;
  }

  /** The model's override; waits for Redis only on a model's first lookup (bounded by the command timeout). */
  async lookup(model: string): Promise<ModelLimitOverride> {
    let entry = this.#entries.get(model);
    if (entry === undefined) {
      entry = { value: undefined, fetchedAt: 0, raw: '', refreshing: undefined };
      this.#entries.set(model, entry);
      this.#refresh(model, entry);
      await entry.refreshing;
    } else if (entry.refreshing === undefined && Date.now() - entry.fetchedAt >= this.#ttlMs) {
      this.#refresh(model, entry);
    }
    return entry.value;
  }

  #refresh(model: string, entry: Entry): void {
    entry.refreshing = this.#client.hmget(this.key(model), 'rps', 'burst').then(
      ([rps, burst]) => {
        entry.value = this.#parse(model, entry, rps ?? undefined, burst ?? undefined);
        entry.fetchedAt = Date.now();
        entry.refreshing = undefined;
      },
      (error: unknown) => {
        // Keep the last known value; try again after another TTL rather than on every request.
        entry.fetchedAt = Date.now();
        entry.refreshing = undefined;
        this.#logger?.debug({ model, err: error }, 'rate limit override not read; keeping the last known value');
      },
    );
  }

  #parse(model: string, entry: Entry, rps: string | undefined, burst: string | undefined): ModelLimitOverride {
    const raw = `${rps ?? ''}\u0000${burst ?? ''}`;
    const changed = raw !== entry.raw;
    entry.raw = raw;
    if (rps === undefined && burst === undefined) return undefined;
    if (rps !== undefined && Number(rps) === 0 && rps.trim() !== '') return 'unlimited';
    const policy = parsePolicy(rps, burst);
    if (policy === undefined && changed) {
      this.#logger?.warn(
        { event: 'rate-limit-override-invalid', model, key: this.key(model), rps, burst },
        'rate limit override ignored: rps must be a number ≥ 0 and burst an integer ≥ 1',
      );
    }
    return policy;
  }
}
