/**
 * This node's heartbeat in Redis: every NODE_HEARTBEAT_MS its NodeReport is written to
 * `<prefix>nodes:<id>` with a TTL (SET ... PX), so a node that dies without a word drops out on
 * its own once the TTL passes. `leave()` stops the writes and deletes the entry at once, which a
 * clean shutdown does first, before the drain, so peers stop sending to it while it still answers.
 *
 * Every write is bounded (the connection's command timeout plus a guard here): a hung Redis never
 * holds the timer, and at most one write is in flight. A failed write is counted and logged once
 * per run of failures; the entry then expires by itself if Redis stays away longer than the TTL.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { settlesWithin } from '../settles-within.js';
import { heartbeatKey } from './node-heartbeat-record.js';
import type { NodeReport } from './node-report.js';

export interface NodeHeartbeatOptions {
  /** The connection to write on (ideally with a command timeout and no offline queue). Required. */
  readonly redis: Redis;
  /** REDIS_PREFIX. Required. */
  readonly prefix: string;
  /** What to write. Required. */
  readonly report: NodeReport;
  /** Time between two writes. Default 1000 ms. */
  readonly intervalMs?: number;
  /** The entry's TTL (PX). Default 3000 ms. */
  readonly ttlMs?: number;
  /** Longest a write or the delete may take before it counts as failed. Default 1000 ms. */
  readonly timeoutMs?: number;
  readonly logger?: Logger | undefined;
  /** Told of each failed write (the metric). Default none. */
  readonly onFailure?: (() => void) | undefined;
}

/** Deletes the entry only while it is still this process's (a restarted node with the same id may have written it since). */
const DELETE_OWN_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local ok, record = pcall(cjson.decode, value)
if ok and type(record) == 'table' and record.instance == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export class NodeHeartbeat {
  readonly key: string;
  readonly #options: NodeHeartbeatOptions;
  readonly #intervalMs: number;
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #stopped = false;
  #started = false;
  #failing = false;
  #failures = 0;
  #writes = 0;

  constructor(options: NodeHeartbeatOptions) {
    this.#options = options;
    this.key = heartbeatKey(options.prefix, options.report.id);
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#ttlMs = options.ttlMs ?? 3000;
    this.#timeoutMs = options.timeoutMs ?? 1000;
  }

  /** Writes at once, then every interval. Idempotent; does nothing after leave(). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#tick();
  }

  /** Failed writes so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Successful writes so far. */
  get writes(): number {
    return this.#writes;
  }

  /**
   * Stops writing and deletes the entry (bounded by the timeout; false when Redis did not confirm,
   * in which case the TTL removes it). A write still in flight is sent before the delete on the
   * same connection, so it can not bring the entry back. Safe to call twice.
   */
  async leave(): Promise<boolean> {
    const first = !this.#stopped;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!first || !this.#started) return false;
    let deleted = false;
    const removal = (this.#options.redis.eval(DELETE_OWN_SCRIPT, 1, this.key, this.#options.report.instance) as Promise<number>).then((n) => {
      deleted = n === 1;
    });
    const settled = await settlesWithin(removal.catch(() => undefined), this.#timeoutMs);
    this.#options.logger?.info({ event: 'node-left', key: this.key, deleted, confirmed: settled }, deleted ? 'heartbeat deleted: left the cluster' : 'heartbeat not deleted (Redis did not confirm); it expires by its TTL');
    return deleted;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
    // At most one write in flight: a slow Redis skips beats rather than piling them up.
    if (this.#writing) return;
    this.#writing = this.#write().finally(() => {
      this.#writing = undefined;
    });
  }

  async #write(): Promise<void> {
    let failure: unknown;
    try {
      const value = JSON.stringify(this.#options.report.current());
      const write = this.#options.redis.set(this.key, value, 'PX', this.#ttlMs);
      let error: unknown;
      const done = write.then(
        () => undefined,
        (e: unknown) => {
          error = e;
        },
      );
      if (!(await settlesWithin(done, this.#timeoutMs))) failure = new Error(`Redis did not answer within ${this.#timeoutMs} ms`);
      else failure = error;
    } catch (error) {
      failure = error;
    }
    if (this.#stopped) return;
    if (failure === undefined) {
      this.#writes += 1;
      if (this.#failing) this.#options.logger?.info({ event: 'heartbeat-recovered', key: this.key }, 'heartbeat written again');
      this.#failing = false;
      return;
    }
    this.#failures += 1;
    this.#options.onFailure?.();
    if (!this.#failing) {
      this.#options.logger?.warn({ event: 'heartbeat-failed', key: this.key, err: failure }, 'heartbeat not written to Redis; retrying every interval (peers drop this node once its TTL passes)');
    }
    this.#failing = true;
  }
}
