/**
 * The submit side of async predictions: a BullMQ queue in the configured Redis, shared by every
 * replica. Submitting stores the validated request with its resolved version; any replica's
 * PredictionWorker runs it. Reads map BullMQ's job to a JobView. Results are kept for the
 * retention time (BullMQ's removeOnComplete/removeOnFail by age and count; a read past the age
 * answers "not found" even before BullMQ's lazy clean-up removed the job).
 *
 * Redis failures never hang a request: the queue's connection does not buffer commands while
 * disconnected, and each operation is bounded by `operationTimeoutMs`, after which the caller
 * gets JOBS_UNAVAILABLE (503) and nothing was queued.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { SwitchyardError } from '../errors.js';
import {
  jobStatusOf,
  type JobCounts,
  type JobView,
  type PredictionJobData,
  type PredictionJobSubmission,
} from './prediction-job.js';

/** The queue's name under the BullMQ prefix (`<REDIS_PREFIX>jobs`). */
export const PREDICTION_QUEUE_NAME = 'predictions';

/** Job ids the API accepts in paths: our UUIDs and idempotency-derived ids. */
const JOB_ID = /^[A-Za-z0-9_-]{1,100}$/;

export interface JobRetention {
  /** Seconds a finished job (result or error) stays readable. Default 86,400 (24 h). */
  readonly ageSeconds: number;
  /** Finished jobs kept at most, per outcome (success, failure); the oldest go first. Default 100,000. */
  readonly count: number;
}

export interface PredictionQueueOptions {
  readonly redisUrl: string;
  /** Key prefix of the gateway (REDIS_PREFIX); the queue's keys live under `<prefix>jobs:`. */
  readonly prefix: string;
  readonly retention?: JobRetention;
  /** Longest wait for Redis per operation before JOBS_UNAVAILABLE. Default 3,000 ms. */
  readonly operationTimeoutMs?: number;
}

export function bullPrefix(prefix: string): string {
  return `${prefix}jobs`;
}

export class PredictionQueue {
  readonly #queue: Queue<PredictionJobData, string>;
  readonly #redis: Redis;
  readonly #eventsRedis: Redis;
  #events: QueueEvents | undefined;
  readonly #retention: JobRetention;
  readonly #timeoutMs: number;
  readonly #tombstonePrefix: string;
  #closed: Promise<void> | undefined;
  /** Aborted at shutdown: long-polls answer with the status they have instead of holding it up. */
  readonly #stopWaiting = new AbortController();

  constructor(options: PredictionQueueOptions) {
    this.#retention = options.retention ?? { ageSeconds: 86_400, count: 100_000 };
    this.#timeoutMs = options.operationTimeoutMs ?? 3_000;
    // No offline queue: while Redis is away a command fails at once instead of waiting in memory.
    this.#redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.#redis.on('error', () => undefined); // reconnects by itself; operations report the failure
    this.#eventsRedis = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.#eventsRedis.on('error', () => undefined);
    this.#queue = new Queue<PredictionJobData, string>(PREDICTION_QUEUE_NAME, {
      connection: this.#redis,
      prefix: bullPrefix(options.prefix),
    });
    this.#queue.on('error', () => undefined);
    this.#tombstonePrefix = `${bullPrefix(options.prefix)}:${PREDICTION_QUEUE_NAME}:cancelled:`;
  }

  /** Queues a job, or with an Idempotency-Key already used by this client, returns that job. */
  async submit(submission: PredictionJobSubmission): Promise<{ view: JobView; created: boolean }> {
    const fingerprint = createHash('sha256')
      .update(`${submission.model}\u0000${submission.versionSpec ?? ''}\u0000${submission.payload}`)
      .digest('hex');
    const data: PredictionJobData = {
      model: submission.model,
      version: submission.version,
      payload: submission.payload,
      fingerprint,
      submission: randomUUID(),
      ...(submission.requestId === undefined ? {} : { requestId: submission.requestId }),
      ...(submission.client === undefined ? {} : { owner: submission.client }),
    };
    const id =
      submission.idempotencyKey === undefined
        ? randomUUID()
        : `k-${createHash('sha256').update(`${submission.client ?? ''}\u0000${submission.idempotencyKey}`).digest('hex').slice(0, 40)}`;
    const { ageSeconds, count } = this.#retention;
    const added = await this.#bounded('queue the job', () =>
      this.#queue.add('predict', data, {
        jobId: id,
        // Inference is idempotent and a model error is final: no retries. A replica that dies
        // mid-job does not cost an attempt; BullMQ's stalled-job check hands the job on.
        attempts: 1,
        removeOnComplete: { age: ageSeconds, count },
        removeOnFail: { age: ageSeconds, count },
      }),
    );
    if (submission.idempotencyKey === undefined) return { view: this.#view(added, 'PENDING'), created: true };
    // With a known id BullMQ keeps the stored job and returns ours unchanged: read what is stored.
    const stored = await this.#bounded('read the job', () => this.#queue.getJob(id));
    if (!stored) return { view: this.#view(added, 'PENDING'), created: true }; // finished and removed at once
    if (stored.data.fingerprint !== fingerprint) {
      throw new SwitchyardError(
        'IDEMPOTENCY_KEY_REUSED',
        `Idempotency-Key '${submission.idempotencyKey}' was used for a different request (job ${id})`,
        { details: { job_id: id } },
      );
    }
    // A job this call created is reported as it was created (PENDING), even if a worker took it already.
    if (stored.data.submission === data.submission) return { view: this.#view(stored, 'PENDING'), created: true };
    return { view: (await this.#currentView(stored)) ?? this.#view(stored, 'PENDING'), created: false };
  }

  /**
   * The job's current view; undefined when no such job exists, its retention passed, or another
   * API key than `requester` submitted it. With `waitMs`, waits up to that long for an
   * unfinished job to finish first (RFC 7240 `wait`).
   */
  async get(id: string, waitMs = 0, requester?: string): Promise<JobView | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const read = async () => {
      const job = await this.#bounded('read the job', () => this.#queue.getJob(id));
      return job && job.data.owner !== undefined && job.data.owner !== requester ? undefined : job;
    };
    const tombstone = () => this.#tombstone(id, requester);
    if (waitMs <= 0) {
      const job = await read();
      return job ? this.#currentView(job) : tombstone();
    }
    // Listen first, then read: a job finishing in between is seen by one or the other. Events
    // can be missed (a Redis restart, a reconnecting events connection), so the job is also
    // re-read every second.
    const finished = this.#whenFinished(await this.#queueEvents(), id);
    try {
      const deadline = Date.now() + waitMs;
      let job = await read();
      while (job && job.finishedOn === undefined) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        if (this.#stopWaiting.signal.aborted) break;
        const woken = await Promise.race([
          finished.promise,
          sleep(Math.min(1_000, left), false, { signal: this.#stopWaiting.signal }).catch(() => true),
        ]);
        job = await read();
        if (woken) break;
      }
      return job ? this.#currentView(job) : tombstone();
    } finally {
      finished.stop();
    }
  }

  /** Cancels a job that has not started; CANCELLED again for a job cancelled before. Scoped like get(). */
  async cancel(id: string, requester?: string): Promise<{ view: JobView; cancelledNow: boolean }> {
    const found = JOB_ID.test(id) ? await this.#bounded('read the job', () => this.#queue.getJob(id)) : undefined;
    const job = found && (found.data.owner === undefined || found.data.owner === requester) ? found : undefined;
    if (!job) {
      const cancelled = JOB_ID.test(id) && !found ? await this.#tombstone(id, requester) : undefined;
      if (cancelled) return { view: cancelled, cancelledNow: false };
      throw new SwitchyardError('JOB_NOT_FOUND', `no job with id '${id.slice(0, 100)}'`);
    }
    const view = await this.#currentView(job);
    if (view === undefined) throw new SwitchyardError('JOB_NOT_FOUND', `no job with id '${id.slice(0, 100)}'`);
    if (view.status !== 'PENDING') {
      throw new SwitchyardError('JOB_NOT_CANCELLABLE', `job '${id}' is ${view.status}; only a PENDING job can be cancelled`, {
        details: { status: view.status },
      });
    }
    const cancelled: JobView = { ...view, status: 'CANCELLED', finishedAt: Date.now(), error: 'cancelled before it started' };
    // The tombstone first, so that the id never answers "not found" in between; BullMQ refuses to
    // remove a job a worker holds, in which case the tombstone goes again.
    const key = this.#tombstonePrefix + id;
    const tombstone = JSON.stringify({
      model: view.model,
      version: view.version,
      createdAt: view.createdAt,
      finishedAt: cancelled.finishedAt,
      ...(job.data.owner === undefined ? {} : { owner: job.data.owner }),
    });
    await this.#bounded('cancel the job', () => this.#redis.set(key, tombstone, 'EX', this.#retention.ageSeconds));
    try {
      await this.#bounded('cancel the job', () => job.remove());
    } catch (error) {
      await this.#redis.del(key).catch(() => undefined);
      if (!/locked/.test((error as Error).message)) throw error;
      throw new SwitchyardError('JOB_NOT_CANCELLABLE', `job '${id}' started before it could be cancelled`, {
        details: { status: 'PROCESSING' },
      });
    }
    return { view: cancelled, cancelledNow: true };
  }

  /** Jobs by status across every replica (finished ones as far as retention keeps them). */
  async counts(): Promise<JobCounts> {
    const c = await this.#bounded('count jobs', () =>
      this.#queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed'),
    );
    return {
      pending: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0),
      processing: c.active ?? 0,
      succeeded: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  /** Ends every long-poll now (each answers with the job's current status); for shutdown. */
  endWaits(): void {
    this.#stopWaiting.abort();
  }

  /** Safe to call twice. */
  close(): Promise<void> {
    this.endWaits();
    this.#closed ??= (async () => {
      // Our connections go first: with Redis away, BullMQ's close would otherwise wait for it.
      this.#redis.disconnect();
      this.#eventsRedis.disconnect();
      const closing = Promise.all([this.#events?.close(), this.#queue.close()]).catch(() => undefined);
      await Promise.race([closing, sleep(2_000)]);
    })();
    return this.#closed;
  }

  async #currentView(job: Job<PredictionJobData, string>, reread = false): Promise<JobView | undefined> {
    if (job.finishedOn !== undefined) {
      if (Date.now() - job.finishedOn > this.#retention.ageSeconds * 1000) {
        await job.remove().catch(() => undefined); // past retention: gone, whether or not BullMQ cleaned up yet
        return undefined;
      }
      return this.#view(job, job.failedReason ? 'FAILED' : 'SUCCESS');
    }
    const state = await this.#bounded('read the job', () => job.getState());
    if (state === 'unknown') return undefined;
    const status = jobStatusOf(state);
    // The job moved on between the two reads (e.g. read while waiting, finished since): read it
    // again, so that the view never says SUCCESS without outputs or PROCESSING without a start.
    const stale = (status === 'PROCESSING' && job.processedOn == null) || status === 'SUCCESS' || status === 'FAILED';
    if (stale && !reread) {
      const fresh = await this.#bounded('read the job', () => this.#queue.getJob(job.id!));
      return fresh ? this.#currentView(fresh, true) : undefined;
    }
    return this.#view(job, status);
  }

  #view(job: Job<PredictionJobData, string>, status: JobView['status']): JobView {
    return {
      id: job.id!,
      status,
      model: job.data.model,
      version: job.data.version,
      createdAt: job.timestamp,
      ...(status === 'PENDING' || job.processedOn == null ? {} : { startedAt: job.processedOn }),
      ...(job.finishedOn == null ? {} : { finishedAt: job.finishedOn }),
      ...(status === 'SUCCESS' && typeof job.returnvalue === 'string' ? { outputsJson: job.returnvalue } : {}),
      ...(status === 'FAILED' ? { error: job.failedReason } : {}),
    };
  }

  async #tombstone(id: string, requester: string | undefined): Promise<JobView | undefined> {
    const text = await this.#bounded('read the job', () => this.#redis.get(this.#tombstonePrefix + id));
    if (text === null) return undefined;
    const { owner, ...stored } = JSON.parse(text) as { model: string; version: number; createdAt: number; finishedAt: number; owner?: string };
    if (owner !== undefined && owner !== requester) return undefined;
    return { id, status: 'CANCELLED', ...stored, error: 'cancelled before it started' };
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
      this.#events = new QueueEvents(PREDICTION_QUEUE_NAME, { connection: this.#eventsRedis, prefix: this.#queue.opts.prefix });
      this.#events.on('error', () => undefined);
      this.#events.setMaxListeners(0); // two per waiting request, however many wait
    }
    await this.#bounded('follow job events', () => this.#events!.waitUntilReady());
    return this.#events;
  }

  /** Runs one Redis operation; Redis down or slow past the timeout -> JOBS_UNAVAILABLE. */
  async #bounded<T>(what: string, operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SwitchyardError('JOBS_UNAVAILABLE', `could not ${what}: Redis did not answer within ${this.#timeoutMs} ms`, { retryAfterSeconds: 1 })),
        this.#timeoutMs,
      );
    });
    try {
      return await Promise.race([operation(), timeout]);
    } catch (error) {
      if (error instanceof SwitchyardError) throw error;
      throw new SwitchyardError('JOBS_UNAVAILABLE', `could not ${what}: ${(error as Error).message}`, { retryAfterSeconds: 1, cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
