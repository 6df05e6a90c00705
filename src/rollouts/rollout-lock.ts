/**
 * Who drives a rollout: one Redis key per model, `SET NX PX` with a random token, renewed and
 * released only by the holder (a Lua compare on the token). Chosen over a repeatable BullMQ job
 * because a check is a few milliseconds of work on counters that live in the driving process: a
 * lock keeps the same process driving window after window (so its counter baseline stays valid),
 * and a crashed driver is replaced as soon as its TTL lapses, with no job scheduler in between.
 * State writes are fenced on the same token (src/rollouts/rollout-store.ts), so a driver that lost
 * the lock while paused can not write a step after its successor took over.
 */
import type { Redis } from 'ioredis';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

interface LockCommands {
  switchyardRolloutRenew(key: string, token: string, ttlMs: string): Promise<number>;
  switchyardRolloutRelease(key: string, token: string): Promise<number>;
}

export class RolloutLock {
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
    redis.defineCommand('switchyardRolloutRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('switchyardRolloutRelease', { numberOfKeys: 1, lua: RELEASE });
  }

  /** True when this token now holds the lock (taken, or renewed because it already held it). */
  async hold(key: string, token: string, ttlMs: number): Promise<boolean> {
    if ((await this.#commands().switchyardRolloutRenew(key, token, String(ttlMs))) === 1) return true;
    return (await this.#redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async release(key: string, token: string): Promise<void> {
    await this.#commands().switchyardRolloutRelease(key, token);
  }

  #commands(): LockCommands {
    return this.#redis as unknown as LockCommands;
  }
}
