/**
 * Rollouts in Redis. One hash per model at `<prefix>rollouts:<model>`: `state` (the whole
 * RolloutState as JSON), `status` and `revision` (for the scripts, which never parse JSON), and
 * `abort` (an operator's request, carried out by the driver: only the lock holder edits routes).
 * The set `<prefix>rollout-models` lists the models that have one, for listing and driving.
 *
 * Every write is one Lua script: create refuses while a rollout runs; a driver's write is fenced
 * on its lock token and on the revision it read, so a stale driver can never overwrite a newer
 * step, and an abort only marks a running rollout.
 */
import type { Redis } from 'ioredis';
import type { RolloutState } from './rollout-state.js';

const CREATE = `
if redis.call('HGET', KEYS[1], 'status') == 'running' then return 'busy' end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'status', 'running', 'revision', '0')
redis.call('SADD', KEYS[2], ARGV[2])
return 'ok'
`;

const WRITE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lost' end
if redis.call('HGET', KEYS[1], 'revision') ~= ARGV[2] then return 'stale' end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'status', ARGV[4], 'revision', ARGV[5])
return 'ok'
`;

const ABORT = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'none' end
if status ~= 'running' then return status end
redis.call('HSET', KEYS[1], 'abort', ARGV[1])
return 'ok'
`;

interface StoreCommands {
  switchyardRolloutCreate(key: string, index: string, json: string, model: string): Promise<string>;
  switchyardRolloutWrite(key: string, lock: string, token: string, revision: string, json: string, status: string, next: string): Promise<string>;
  switchyardRolloutAbort(key: string, reason: string): Promise<string>;
}

export type WriteOutcome = 'ok' | 'lost' | 'stale';
export type AbortOutcome = 'ok' | 'none' | Exclude<RolloutState['status'], 'running'>;

export interface StoredRollout {
  readonly state: RolloutState;
  /** An operator asked to abort it, with this reason; the driver rolls back. */
  readonly abortRequested: string | undefined;
}

export class RolloutStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
    redis.defineCommand('switchyardRolloutCreate', { numberOfKeys: 2, lua: CREATE });
    redis.defineCommand('switchyardRolloutWrite', { numberOfKeys: 2, lua: WRITE });
    redis.defineCommand('switchyardRolloutAbort', { numberOfKeys: 1, lua: ABORT });
  }

  key(model: string): string {
    return `${this.#prefix}rollouts:${model}`;
  }

  lockKey(model: string): string {
    return `${this.#prefix}rollout-locks:${model}`;
  }

  get indexKey(): string {
    return `${this.#prefix}rollout-models`;
  }

  /** Writes a new rollout (revision 0); false when one is running for the model. */
  async create(state: RolloutState): Promise<boolean> {
    return (await this.#commands().switchyardRolloutCreate(this.key(state.model), this.indexKey, JSON.stringify(state), state.model)) === 'ok';
  }

  async read(model: string): Promise<StoredRollout | undefined> {
    const [json, abort] = await this.#redis.hmget(this.key(model), 'state', 'abort');
    if (json === null || json === undefined) return undefined;
    return { state: JSON.parse(json) as RolloutState, abortRequested: abort ?? undefined };
  }

  async models(): Promise<string[]> {
    return (await this.#redis.smembers(this.indexKey)).sort();
  }

  /** Replaces the state if `token` holds the model's lock and nobody wrote since `state.revision - 1`. */
  async write(token: string, state: RolloutState): Promise<WriteOutcome> {
    const outcome = await this.#commands().switchyardRolloutWrite(
      this.key(state.model),
      this.lockKey(state.model),
      token,
      String(state.revision - 1),
      JSON.stringify(state),
      state.status,
      String(state.revision),
    );
    return outcome as WriteOutcome;
  }

  async requestAbort(model: string, reason: string): Promise<AbortOutcome> {
    return (await this.#commands().switchyardRolloutAbort(this.key(model), reason)) as AbortOutcome;
  }

  #commands(): StoreCommands {
    return this.#redis as unknown as StoreCommands;
  }
}
