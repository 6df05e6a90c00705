/**
 * The pending ledger: which jobs are unfinished (queued or running) and how many bytes of input
 * they keep in Redis, shared by every replica, so that a submit beyond JOB_MAX_PENDING jobs or
 * JOB_MAX_PENDING_BYTES bytes is refused (JOBS_FULL) before anything is written.
 *
 * Kept in Redis and changed only by Lua scripts, so that admissions from many replicas never
 * overshoot a cap and a release never counts twice:
 * - admit: an id the queue already holds (a retried Idempotency-Key) takes no second place;
 *   otherwise the caps are checked and the job's place is taken, in one step.
 * - settle: once a job has finished, its input is dropped from the job's hash (the result or
 *   error stays for the retention time) and its place is given back; a job that is gone (cancelled,
 *   or never written because its submit failed) gives its place back too.
 *
 * The replica that finishes a job settles it at once. A replica can die between finishing a job
 * and settling it, a submit can take a place and then fail, and BullMQ fails a job that stalled
 * too often without any worker seeing it: reconcile() walks the ledger and settles whatever is
 * finished or gone, so such places are never lost for good. Workers run it periodically, and a
 * refused submit runs it at once.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { PredictionQueueKeys } from './prediction-queue-keys.js';

/** Caps on unfinished jobs across every replica; 0 = no cap. */
export interface PendingLimits {
  /** Unfinished jobs at most (JOB_MAX_PENDING). */
  readonly maxJobs: number;
  /** Bytes of input the unfinished jobs keep in Redis at most (JOB_MAX_PENDING_BYTES). */
  readonly maxBytes: number;
}

export type Admission =
  /** The job is in the queue already (a retry of a keyed submit): nothing taken. */
  | { readonly kind: 'exists' }
  /** An earlier submit of this id took its place and may still be writing it: nothing more taken. */
  | { readonly kind: 'held' }
  | { readonly kind: 'admitted' }
  /** Over a cap: nothing taken. The totals are the ledger's at that moment. */
  | { readonly kind: 'full'; readonly cap: 'jobs' | 'bytes'; readonly jobs: number; readonly bytes: number };

/** What settle found: the job finished (input dropped), is gone, is still unfinished, or is too young to call gone. */
export interface Settlement {
  readonly state: 'finished' | 'gone' | 'unfinished' | 'young';
  /** Whether this call gave the job's place back (false: it held none, or keeps it). */
  readonly released: boolean;
}

export interface PendingLedgerOptions {
  /**
   * How old a place must be before a job that is not in the queue counts as gone: its submit
   * may still be writing it. Default 60,000 ms.
   */
  readonly missingGraceMs?: number;
}

// KEYS: ledger hash, bytes counter, job hash. ARGV: id, bytes, now, max jobs, max bytes.
const ADMIT = `
if redis.call('EXISTS', KEYS[3]) == 1 then return {'exists'} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'held'} end
local jobs = redis.call('HLEN', KEYS[1])
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
local bytes = tonumber(ARGV[2])
if tonumber(ARGV[4]) > 0 and jobs >= tonumber(ARGV[4]) then return {'full', 'jobs', jobs, total} end
if tonumber(ARGV[5]) > 0 and total + bytes > tonumber(ARGV[5]) then return {'full', 'bytes', jobs, total} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('INCRBY', KEYS[2], bytes)
return {'admitted'}
`;

// KEYS: ledger hash, bytes counter, job hash. ARGV: id, now, grace for a missing job (ms).
// BullMQ sets finishedOn when a job completes or fails, and clears it if the job is ever retried.
const SETTLE = `
local state = 'gone'
if redis.call('HEXISTS', KEYS[3], 'finishedOn') == 1 then
  state = 'finished'
  local data = redis.call('HGET', KEYS[3], 'data')
  if data then
    local ok, job = pcall(cjson.decode, data)
    if ok and type(job) == 'table' and job.payload ~= nil then
      job.payload = nil
      redis.call('HSET', KEYS[3], 'data', cjson.encode(job))
    end
  end
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  return {'unfinished', 0}
end
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return {state, 0} end
if state == 'gone' then
  local admitted = tonumber(string.match(entry, ':(%d+)$')) or 0
  if tonumber(ARGV[2]) - admitted < tonumber(ARGV[3]) then return {'young', 0} end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DECRBY', KEYS[2], tonumber(string.match(entry, '^(%d+)')) or 0)
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return {state, 1}
`;

interface LedgerCommands {
  switchyardAdmitJob(ledger: string, bytesKey: string, job: string, id: string, bytes: number, now: number, maxJobs: number, maxBytes: number): Promise<[string, ...Array<string | number>]>;
  switchyardSettleJob(ledger: string, bytesKey: string, job: string, id: string, now: number, graceMs: number): Promise<[Settlement['state'], number]>;
}

/** Ids settled per round trip while reconciling. */
const RECONCILE_BATCH = 200;

export class PendingLedger {
  readonly #redis: Redis & LedgerCommands;
  readonly #keys: PredictionQueueKeys;
  readonly #missingGraceMs: number;

  constructor(redis: Redis, keys: PredictionQueueKeys, options: PendingLedgerOptions = {}) {
    // Loaded once per connection (EVALSHA, EVAL when Redis does not know the script yet).
    if (!('switchyardAdmitJob' in redis)) {
      redis.defineCommand('switchyardAdmitJob', { numberOfKeys: 3, lua: ADMIT });
      redis.defineCommand('switchyardSettleJob', { numberOfKeys: 3, lua: SETTLE });
    }
    this.#redis = redis as Redis & LedgerCommands;
    this.#keys = keys;
    this.#missingGraceMs = options.missingGraceMs ?? 60_000;
  }

  /** Takes a place for job `id` with `bytes` of input, unless that would pass a cap. */
  async admit(id: string, bytes: number, limits: PendingLimits): Promise<Admission> {
    const keys = this.#keys;
    const [kind, cap, jobs, total] = await this.#redis.switchyardAdmitJob(
      keys.pendingJobs, keys.pendingBytes, keys.job(id), id, bytes, Date.now(), limits.maxJobs, limits.maxBytes,
    );
    if (kind === 'full') return { kind, cap: cap === 'bytes' ? 'bytes' : 'jobs', jobs: Number(jobs), bytes: Number(total) };
    return { kind: kind as 'exists' | 'held' | 'admitted' };
  }

  /**
   * A finished job: drops its input and gives its place back. A job no longer in the queue gives
   * its place back if it was taken at least `missingGraceMs` ago (0: at once, e.g. after a cancel).
   */
  async settle(id: string, missingGraceMs = 0): Promise<Settlement> {
    const keys = this.#keys;
    const [state, released] = await this.#redis.switchyardSettleJob(keys.pendingJobs, keys.pendingBytes, keys.job(id), id, Date.now(), missingGraceMs);
    return { state, released: released === 1 };
  }

  /** Settles every place whose job finished or is gone; returns how many places were given back. */
  async reconcile(): Promise<number> {
    const keys = this.#keys;
    let released = 0;
    let cursor = '0';
    do {
      const [next, flat] = await this.#redis.hscan(keys.pendingJobs, cursor, 'COUNT', RECONCILE_BATCH);
      cursor = next;
      const ids = flat.filter((_, i) => i % 2 === 0);
      if (ids.length === 0) continue;
      const pipeline = this.#redis.pipeline() as ChainableCommander & { switchyardSettleJob(...args: Array<string | number>): unknown };
      const now = Date.now();
      for (const id of ids) pipeline.switchyardSettleJob(keys.pendingJobs, keys.pendingBytes, keys.job(id), id, now, this.#missingGraceMs);
      const results = (await pipeline.exec()) ?? [];
      released += results.filter(([error, reply]) => !error && (reply as [string, number])[1] === 1).length;
    } while (cursor !== '0');
    return released;
  }

  /** The ledger's totals now: unfinished jobs and the bytes of input they keep. */
  async totals(): Promise<{ jobs: number; bytes: number }> {
    const [jobs, bytes] = await Promise.all([this.#redis.hlen(this.#keys.pendingJobs), this.#redis.get(this.#keys.pendingBytes)]);
    return { jobs, bytes: Number(bytes ?? 0) };
  }
}
