/**
 * Long-polls (`GET /jobs/:id` with `Prefer: wait`): waits for a job to finish, woken by BullMQ's
 * queue events for that job. Events can be missed (a Redis restart, a reconnecting events
 * connection), so the job is also re-read every second; and at shutdown every wait ends at once
 * with what it has, so that long-polls never hold up the drain.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { boundedOperation } from './bounded-operation.js';
import { PREDICTION_QUEUE_NAME, type PredictionQueueKeys } from './prediction-queue-keys.js';

export interface JobFinishWaiterOptions {
  readonly redisUrl: string;
  readonly keys: PredictionQueueKeys;
  /** Longest wait for Redis to start following events. Required (the queue's operation timeout). */
  readonly timeoutMs: number;
}

export class JobFinishWaiter {
  readonly #redis: Redis;
  readonly #keys: PredictionQueueKeys;
  readonly #timeoutMs: number;
  #events: QueueEvents | undefined;
  readonly #stop = new AbortController();
  #closed: Promise<void> | undefined;

  constructor(options: JobFinishWaiterOptions) {
    this.#keys = options.keys;
    this.#timeoutMs = options.timeoutMs;
    // Connected on the first long-poll only: most gateways never serve one.
    this.#redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.#redis.on('error', () => undefined);
  }

  /**
   * Reads the job with `read` until it has finished, `waitMs` passed, or endWaits() was called;
   * resolves with the last read (undefined: the job is not there).
   */
  async wait<T extends { finishedOn?: number | undefined }>(id: string, waitMs: number, read: () => Promise<T | undefined>): Promise<T | undefined> {
    // Listen first, then read: a job finishing in between is seen by one or the other.
    const finished = this.#whenFinished(await this.#queueEvents(), id);
    try {
      const deadline = Date.now() + waitMs;
      let job = await read();
      while (job && job.finishedOn === undefined) {
        const left = deadline - Date.now();
        if (left <= 0 || this.#stop.signal.aborted) break;
        const woken = await Promise.race([
          finished.promise,
          sleep(Math.min(1_000, left), false, { signal: this.#stop.signal }).catch(() => true),
        ]);
        job = await read();
        if (woken) break;
      }
      return job;
    } finally {
      finished.stop();
    }
  }

  /** Ends every wait now (each resolves with its job's current state); for shutdown. */
  endWaits(): void {
    this.#stop.abort();
  }

  /** Safe to call twice. */
  close(): Promise<void> {
    this.endWaits();
    this.#closed ??= (async () => {
      this.#redis.disconnect(); // first: with Redis away, BullMQ's close would otherwise wait for it
      await Promise.race([this.#events?.close().catch(() => undefined), sleep(2_000)]);
    })();
    return this.#closed;
  }

  /** Resolves true when the job's completed or failed event arrives; `stop` removes the listeners. */
  #whenFinished(events: QueueEvents, id: string): { promise: Promise<boolean>; stop(): void } {
    let done: () => void = () => undefined;
    const promise = new Promise<boolean>((resolve) => (done = () => resolve(true)));
    events.on(`completed:${id}` as 'completed', done);
    events.on(`failed:${id}` as 'failed', done);
    return {
      promise,
      stop: () => {
        events.off(`completed:${id}` as 'completed', done);
        events.off(`failed:${id}` as 'failed', done);
      },
    };
  }

  async #queueEvents(): Promise<QueueEvents> {
    if (!this.#events) {
      this.#events = new QueueEvents(PREDICTION_QUEUE_NAME, { connection: this.#redis, prefix: this.#keys.bullPrefix });
      this.#events.on('error', () => undefined);
      this.#events.setMaxListeners(0); // two per waiting request, however many wait
    }
    const events = this.#events;
    await boundedOperation('follow job events', this.#timeoutMs, () => events.waitUntilReady());
    return events;
  }
}
