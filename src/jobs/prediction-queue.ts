/**
 * The submit side of async predictions: a BullMQ queue in the configured Redis, shared by every
 * replica. Submitting stores the validated request with its resolved version; any replica's
 * PredictionWorker runs it. Results are kept for the retention time (BullMQ's
 * removeOnComplete/removeOnFail by age and count).
 *
 * This class only composes the parts, each in a file of its own: who a submission is
 * (submission-identity), the caps on unfinished jobs (pending-ledger), reading jobs as clients
 * see them (job-reader), cancelled ids (cancel-tombstones), long-polls (job-finish-waiter), and
 * the bound on every Redis operation (bounded-operation).
 *
 * Redis failures never hang a request: the queue's connection does not buffer commands while
 * disconnected, and each operation is bounded by `operationTimeoutMs`, after which the caller
 * gets a 503. A submit says which 503 it is: JOBS_UNAVAILABLE when nothing was sent that could
 * queue the job, JOBS_OUTCOME_UNKNOWN once the write itself went out unanswered (Redis hung
 * mid-write: the job may appear later). Both name the job id, fixed before anything is written,
 * so that `GET /jobs/<id>` settles it and a retry with the same Idempotency-Key is the same job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { isSwitchyardError, SwitchyardError } from '../errors.js';
import { boundedOperation } from './bounded-operation.js';
import { CANCELLED_ERROR, CancelTombstones } from './cancel-tombstones.js';
import { JobFinishWaiter } from './job-finish-waiter.js';
import { JobReader, viewOf } from './job-reader.js';
import { PendingLedger, type PendingLimits } from './pending-ledger.js';
import type { JobCounts, JobView, PredictionJobData, PredictionJobSubmission } from './prediction-job.js';
import { PREDICTION_QUEUE_NAME, predictionQueueKeys } from './prediction-queue-keys.js';
import { JOB_ID, replayOf, submissionIdentity } from './submission-identity.js';

/** Retry-After of a JOBS_FULL answer: jobs drain at the speed of the models, not at once. */
export const JOBS_FULL_RETRY_AFTER_SECONDS = 5;

/** A refused submit reconciles the pending ledger at most this often per replica. */
const RECONCILE_AFTER_REFUSAL_EVERY_MS = 5_000;

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
  /** Caps on unfinished jobs across every replica (JOBS_FULL beyond). Default 10,000 jobs and 256 MiB of input; 0 = no cap. */
  readonly pendingLimits?: PendingLimits;
}

function notFound(id: string): SwitchyardError {
  return new SwitchyardError('JOB_NOT_FOUND', `no job with id '${id.slice(0, 100)}'`);
}

/** Nothing that could queue job `id` reached Redis. */
function unavailable(id: string, reason: string, cause?: unknown): SwitchyardError {
  const why = reason.replace(/^could not queue the job: /, '');
  return new SwitchyardError('JOBS_UNAVAILABLE', `could not queue the job: ${why}; nothing was queued (job '${id}')`, {
    retryAfterSeconds: 1,
    details: { job_id: id },
    cause,
  });
}

/** The write of job `id` went out and Redis did not answer it: it may be queued, now or later. */
function outcomeUnknown(id: string, cause: unknown): SwitchyardError {
  const why = isSwitchyardError(cause) ? cause.message.replace(/^could not [^:]+: /, '') : (cause as Error).message;
  return new SwitchyardError(
    'JOBS_OUTCOME_UNKNOWN',
    `job '${id}' may or may not be queued: its write went out to Redis, which did not confirm it (${why}). ` +
      `GET /jobs/${id} tells once Redis answers; a retry with the same Idempotency-Key never makes a second job`,
    { retryAfterSeconds: 1, details: { job_id: id }, cause },
  );
}

export class PredictionQueue {
  readonly #queue: Queue<PredictionJobData, string>;
  readonly #redis: Redis;
  readonly #retention: JobRetention;
  readonly #timeoutMs: number;
  readonly #reader: JobReader;
  readonly #tombstones: CancelTombstones;
  readonly #waiter: JobFinishWaiter;
  readonly #ledger: PendingLedger;
  readonly #limits: PendingLimits;
  #lastReconcile = 0;
  #closed: Promise<void> | undefined;

  constructor(options: PredictionQueueOptions) {
    this.#retention = options.retention ?? { ageSeconds: 86_400, count: 100_000 };
    this.#timeoutMs = options.operationTimeoutMs ?? 3_000;
    const keys = predictionQueueKeys(options.prefix);
    // No offline queue: while Redis is away a command fails at once instead of waiting in memory.
    this.#redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.#redis.on('error', () => undefined); // reconnects by itself; operations report the failure
    this.#queue = new Queue<PredictionJobData, string>(PREDICTION_QUEUE_NAME, { connection: this.#redis, prefix: keys.bullPrefix });
    this.#queue.on('error', () => undefined);
    this.#reader = new JobReader({ queue: this.#queue, retentionSeconds: this.#retention.ageSeconds, timeoutMs: this.#timeoutMs });
    this.#tombstones = new CancelTombstones(this.#redis, keys, this.#retention.ageSeconds);
    this.#waiter = new JobFinishWaiter({ redisUrl: options.redisUrl, keys, timeoutMs: this.#timeoutMs });
    this.#ledger = new PendingLedger(this.#redis, keys);
    this.#limits = options.pendingLimits ?? { maxJobs: 10_000, maxBytes: 256 * 1024 * 1024 };
  }

  /**
   * Queues a job, or with an Idempotency-Key already used by this client, returns that job.
   * Refuses with JOBS_FULL past the pending caps, JOBS_UNAVAILABLE when Redis could not be asked,
   * and JOBS_OUTCOME_UNKNOWN when the write went out and Redis did not answer it.
   */
  async submit(submission: PredictionJobSubmission): Promise<{ view: JobView; created: boolean }> {
    const identity = submissionIdentity(submission);
    const { id } = identity;
    const data: PredictionJobData = {
      model: submission.model,
      version: submission.version,
      payload: submission.payload,
      fingerprint: identity.fingerprint,
      submission: identity.submission,
      ...(submission.requestId === undefined ? {} : { requestId: submission.requestId }),
      ...(submission.client === undefined ? {} : { owner: submission.client }),
    };
    await this.#admit(id, Buffer.byteLength(submission.payload));
    // Nothing that could queue the job has been sent yet: a Redis that is not there is plainly unavailable.
    if (this.#redis.status !== 'ready') throw unavailable(id, `Redis is ${this.#redis.status}`);
    const { ageSeconds, count } = this.#retention;
    let added;
    try {
      added = await this.#bounded('queue the job', () =>
        this.#queue.add('predict', data, {
          jobId: id,
          // Inference is idempotent and a model error is final: no retries. A replica that dies
          // mid-job does not cost an attempt; BullMQ's stalled-job check hands the job on.
          attempts: 1,
          removeOnComplete: { age: ageSeconds, count },
          removeOnFail: { age: ageSeconds, count },
        }),
      );
    } catch (error) {
      throw outcomeUnknown(id, error);
    }
    const key = submission.idempotencyKey;
    if (key === undefined) return { view: viewOf(added, 'PENDING'), created: true };
    // With a known id BullMQ keeps the stored job and returns ours unchanged: read what is stored.
    // The job is there now, but whether this call or an earlier one made it is unknown until read.
    const stored = await this.#reader.find(id).catch((error: unknown) => {
      throw outcomeUnknown(id, error);
    });
    if (!stored) return { view: viewOf(added, 'PENDING'), created: true }; // finished and removed at once
    // A job this call created is reported as it was created (PENDING), even if a worker took it already.
    if (replayOf(stored.data, identity, key) === 'created') return { view: viewOf(stored, 'PENDING'), created: true };
    return { view: (await this.#reader.currentView(stored)) ?? viewOf(stored, 'PENDING'), created: false };
  }

  /**
   * The job's current view; undefined when no such job exists, its retention passed, or another
   * API key than `requester` submitted it. With `waitMs`, waits up to that long for an
   * unfinished job to finish first (RFC 7240 `wait`).
   */
  async get(id: string, waitMs = 0, requester?: string): Promise<JobView | undefined> {
    const read = () => this.#reader.findFor(id, requester);
    const job = waitMs > 0 && JOB_ID.test(id) ? await this.#waiter.wait(id, waitMs, read) : await read();
    return job ? this.#reader.currentView(job) : this.#tombstone(id, requester);
  }

  /** Cancels a job that has not started; CANCELLED again for a job cancelled before. Scoped like get(). */
  async cancel(id: string, requester?: string): Promise<{ view: JobView; cancelledNow: boolean }> {
    const found = await this.#reader.find(id);
    const job = found && (found.data.owner === undefined || found.data.owner === requester) ? found : undefined;
    if (!job) {
      const cancelled = found ? undefined : await this.#tombstone(id, requester);
      if (cancelled) return { view: cancelled, cancelledNow: false };
      throw notFound(id);
    }
    const view = await this.#reader.currentView(job);
    if (view === undefined) throw notFound(id);
    if (view.status !== 'PENDING') {
      throw new SwitchyardError('JOB_NOT_CANCELLABLE', `job '${id}' is ${view.status}; only a PENDING job can be cancelled`, {
        details: { status: view.status },
      });
    }
    const cancelled: JobView = { ...view, status: 'CANCELLED', finishedAt: Date.now(), error: CANCELLED_ERROR };
    // The tombstone first, so that the id never answers "not found" in between; BullMQ refuses to
    // remove a job a worker holds, in which case the tombstone goes again.
    await this.#bounded('cancel the job', () => this.#tombstones.write(cancelled, job.data.owner));
    try {
      await this.#bounded('cancel the job', () => job.remove());
    } catch (error) {
      await this.#tombstones.remove(id).catch(() => undefined);
      if (!/locked/.test((error as Error).message)) throw error;
      throw new SwitchyardError('JOB_NOT_CANCELLABLE', `job '${id}' started before it could be cancelled`, {
        details: { status: 'PROCESSING' },
      });
    }
    // Its place under the pending caps, not awaited: if Redis fails us now, reconciling gives it back later.
    this.#ledger.settle(id).catch(() => undefined);
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
    this.#waiter.endWaits();
  }

  /** Safe to call twice. */
  close(): Promise<void> {
    this.endWaits();
    this.#closed ??= (async () => {
      // Our connection goes first: with Redis away, BullMQ's close would otherwise wait for it.
      this.#redis.disconnect();
      const closing = Promise.all([this.#waiter.close(), this.#queue.close()]).catch(() => undefined);
      await Promise.race([closing, sleep(2_000)]);
    })();
    return this.#closed;
  }

  /** The ledger's totals: unfinished jobs and the bytes of input they keep in Redis. */
  pendingTotals(): Promise<{ jobs: number; bytes: number }> {
    return this.#bounded('count jobs', () => this.#ledger.totals());
  }

  /** Takes the job's place under the pending caps (with no cap set, there is nothing to take). */
  async #admit(id: string, bytes: number): Promise<void> {
    const { maxJobs, maxBytes } = this.#limits;
    if (maxJobs === 0 && maxBytes === 0) return;
    let admission;
    try {
      admission = await this.#bounded('queue the job', () => this.#ledger.admit(id, bytes, this.#limits));
    } catch (error) {
      // Only the admission went out: whatever Redis does with it later, the job is not written.
      throw unavailable(id, (error as Error).message, error);
    }
    if (admission.kind !== 'full') return;
    this.#reconcileSoon();
    const message =
      admission.cap === 'jobs'
        ? `${admission.jobs} jobs are unfinished, as many as JOB_MAX_PENDING (${maxJobs}) allows`
        : `unfinished jobs keep ${admission.bytes} bytes of input in Redis; this one's ${bytes} more would pass JOB_MAX_PENDING_BYTES (${maxBytes})`;
    throw new SwitchyardError('JOBS_FULL', `${message}: nothing was queued, retry later`, {
      retryAfterSeconds: JOBS_FULL_RETRY_AFTER_SECONDS,
      details: { pending_jobs: admission.jobs, pending_bytes: admission.bytes, max_pending: maxJobs, max_pending_bytes: maxBytes },
    });
  }

  /** Gives back places whose jobs finished or are gone (a replica that died mid-way, a failed submit). */
  #reconcileSoon(): void {
    const now = Date.now();
    if (now - this.#lastReconcile < RECONCILE_AFTER_REFUSAL_EVERY_MS) return;
    this.#lastReconcile = now;
    this.#ledger.reconcile().catch(() => undefined);
  }

  async #tombstone(id: string, requester: string | undefined): Promise<JobView | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    return this.#bounded('read the job', () => this.#tombstones.read(id, requester));
  }

  #bounded<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return boundedOperation(what, this.#timeoutMs, operation);
  }
}
