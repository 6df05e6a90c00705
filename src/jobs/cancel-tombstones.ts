/**
 * What is left of a cancelled job: BullMQ forgets a removed job entirely, so a cancel writes a
 * small tombstone (model, version, times, owner; never the inputs) that keeps the id answering
 * CANCELLED for the retention time instead of "not found".
 */
import type { Redis } from 'ioredis';
import type { JobView } from './prediction-job.js';
import type { PredictionQueueKeys } from './prediction-queue-keys.js';

interface Tombstone {
  readonly model: string;
  readonly version: number;
  readonly createdAt: number;
  readonly finishedAt: number;
  readonly owner?: string;
}

export const CANCELLED_ERROR = 'cancelled before it started';

export class CancelTombstones {
  readonly #redis: Redis;
  readonly #keys: PredictionQueueKeys;
  readonly #ttlSeconds: number;

  /** `ttlSeconds`: how long a cancelled id keeps answering (the retention time). */
  constructor(redis: Redis, keys: PredictionQueueKeys, ttlSeconds: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#ttlSeconds = ttlSeconds;
  }

  async write(view: JobView, owner: string | undefined): Promise<void> {
    const tombstone: Tombstone = {
      model: view.model,
      version: view.version,
      createdAt: view.createdAt,
      finishedAt: view.finishedAt ?? Date.now(),
      ...(owner === undefined ? {} : { owner }),
    };
    await this.#redis.set(this.#keys.tombstone(view.id), JSON.stringify(tombstone), 'EX', this.#ttlSeconds);
  }

  async remove(id: string): Promise<void> {
    await this.#redis.del(this.#keys.tombstone(id));
  }

  /** The cancelled job's view; undefined when the id was never cancelled, or for another owner. */
  async read(id: string, requester: string | undefined): Promise<JobView | undefined> {
    const text = await this.#redis.get(this.#keys.tombstone(id));
    if (text === null) return undefined;
    const { owner, ...stored } = JSON.parse(text) as Tombstone;
    if (owner !== undefined && owner !== requester) return undefined;
    return { id, status: 'CANCELLED', ...stored, error: CANCELLED_ERROR };
  }
}
