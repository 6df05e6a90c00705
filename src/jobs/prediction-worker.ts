/**
 * The work side of async predictions: a BullMQ worker in this replica that takes jobs from the
 * shared queue and runs them through the same scheduler as sync requests (so async load batches
 * with sync load). At-least-once: a job whose replica dies keeps its lock only until
 * `lockDurationMs`; BullMQ's stalled-job check (every `stalledIntervalMs`, in any live replica)
 * puts it back in the queue for another worker. Inference has no side effects, so running a job
 * twice is harmless.
 *
 * A result larger than `maxResultBytes` fails the job with the reason instead of filling Redis.
 * A full local queue or a version in the middle of a reload is waited out (the job keeps its
 * lock meanwhile) for up to `transientRetryMs`; any other error fails the job with its reason.
 *
 * A finished job (success or failure) is settled at once: its input is dropped from Redis and
 * its place under the pending caps is given back (pending-ledger); every `reconcileIntervalMs`
 * the worker also settles what other replicas could not (one that died right after a job).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isSwitchyardError, type ErrorCode } from '../errors.js';
import { PendingLedger } from './pending-ledger.js';
import type { PredictionJobData } from './prediction-job.js';
import { PREDICTION_QUEUE_NAME, predictionQueueKeys } from './prediction-queue-keys.js';

/** Runs one job's request; resolves to the outputs object as JSON text. */
export type PredictionExecutor = (data: PredictionJobData) => Promise<string>;

export type JobOutcome = 'success' | 'failure';

/** Told about every job this replica finished (for metrics). */
export interface JobObserver {
  jobFinished(model: string, outcome: JobOutcome, submitToFinishMs: number): void;
}

export interface PredictionWorkerOptions {
  readonly redisUrl: string;
  /** Key prefix of the gateway (REDIS_PREFIX), as given to the PredictionQueue. */
  readonly prefix: string;
  readonly execute: PredictionExecutor;
  /** Jobs this replica runs at once. Default 32 (enough to fill batches of the dynamic batcher). */
  readonly concurrency?: number;
  /** How long a job's lock lasts without renewal (a dead replica's jobs wait this long). Default 30,000 ms. */
  readonly lockDurationMs?: number;
  /** How often this replica looks for stalled jobs of dead replicas. Default 30,000 ms. */
  readonly stalledIntervalMs?: number;
  /** Times a job may be recovered from a dead replica before it fails. Default 3. */
  readonly maxStalledCount?: number;
  /** Largest result (outputs JSON) kept in Redis. Default 8 MiB. */
  readonly maxResultBytes?: number;
  /** How long a job waits out a full queue or a reloading version before it fails. Default 60,000 ms. */
  readonly transientRetryMs?: number;
  /** How often this replica settles finished or vanished jobs left in the pending ledger. Default 60,000 ms. */
  readonly reconcileIntervalMs?: number;
  readonly logger?: Logger | undefined;
  readonly observer?: JobObserver | undefined;
}

/** Errors that pass by themselves: wait and run the job again rather than fail it. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['QUEUE_FULL', 'VERSION_NOT_READY']);

export class PredictionWorker {
  readonly #worker: Worker<PredictionJobData, string>;
  readonly #redis: Redis;
  readonly #options: PredictionWorkerOptions;
  readonly #ledger: PendingLedger;
  /** The jobs this replica runs now, with their lock tokens (to hand them back at close). */
  readonly #running = new Map<string, { readonly job: Job<PredictionJobData, string>; readonly token: string }>();
  /** Jobs handed back at close: whatever their runs here still report is not theirs to finish. */
  readonly #handedBack = new Set<string>();
  #reconciler: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: PredictionWorkerOptions) {
    this.#options = options;
    this.#redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    this.#redis.on('error', () => undefined); // the worker's own 'error' event reports it
    const lockDuration = options.lockDurationMs ?? 30_000;
    const keys = predictionQueueKeys(options.prefix);
    this.#ledger = new PendingLedger(this.#redis, keys);
    this.#worker = new Worker<PredictionJobData, string>(PREDICTION_QUEUE_NAME, (job, token) => this.#track(job, token), {
      connection: this.#redis,
      prefix: keys.bullPrefix,
      concurrency: options.concurrency ?? 32,
      lockDuration,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: options.maxStalledCount ?? 3,
      autorun: false,
    });
    const log = options.logger;
    this.#worker.on('error', (error) => log?.warn({ err: error }, 'job worker: Redis error (retrying)'));
    this.#worker.on('completed', (job) => this.#finished(job, 'success'));
    this.#worker.on('failed', (job, error) => {
      if (!job || this.#handedBack.has(job.id!)) return;
      this.#finished(job, 'failure');
      log?.warn({ event: 'job-failed', job: job.id, model: job.data.model, version: job.data.version, requestId: job.data.requestId, reason: error.message }, 'job failed');
    });
    this.#worker.on('stalled', (id) => log?.warn({ event: 'job-stalled', job: id }, 'job recovered from a replica that stopped; queued again'));
  }

  /** Starts taking jobs. */
  start(): void {
    this.#worker.run().catch((error: unknown) => this.#options.logger?.error({ err: error }, 'job worker stopped'));
    this.#reconciler ??= setInterval(() => {
      this.#ledger.reconcile().then(
        (released) => {
          if (released > 0) this.#options.logger?.info({ event: 'jobs-reconciled', released }, 'pending ledger: gave back the places of finished or vanished jobs');
        },
        () => undefined, // Redis away: the next round tries again
      );
    }, this.#options.reconcileIntervalMs ?? 60_000).unref();
  }

  /**
   * Stops taking jobs and resolves once the running ones finished and their results are stored.
   * With Redis away that may never happen: callers bound it, then close().
   */
  async drain(): Promise<void> {
    await this.#worker.pause().catch(() => undefined);
  }

  /**
   * Lets go at once: jobs still running are handed back to the queue, where another replica takes
   * them (if Redis does not answer, their locks expire and BullMQ's stalled-job check hands them
   * on). Their runs here are not stopped; a result that comes later is refused by BullMQ, since
   * the job's lock is gone. Returns within a few seconds even while Redis is unreachable. Safe to
   * call twice.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#reconciler);
      await this.#handBack();
      await Promise.race([this.#worker.close(true).catch(() => undefined), sleep(2_000)]);
      this.#redis.disconnect();
    })();
    return this.#closed;
  }

  /** Moves every job still running here back to waiting, bounded (the lock expiry is the fallback). */
  async #handBack(): Promise<void> {
    const running = [...this.#running.values()];
    if (running.length === 0) return;
    const handedBack = Promise.all(
      running.map(({ job, token }) =>
        job.moveToWait(token).then(
          () => {
            this.#handedBack.add(job.id!);
            this.#options.logger?.info({ event: 'job-handed-back', job: job.id }, 'job handed back to the queue at shutdown');
          },
          () => undefined,
        ),
      ),
    );
    await Promise.race([handedBack, sleep(2_000)]);
  }

  async #track(job: Job<PredictionJobData, string>, token: string | undefined): Promise<string> {
    if (token !== undefined) this.#running.set(job.id!, { job, token });
    try {
      return await this.#run(job);
    } finally {
      this.#running.delete(job.id!);
    }
  }

  async #run(job: Job<PredictionJobData, string>): Promise<string> {
    const patience = this.#options.transientRetryMs ?? 60_000;
    const giveUpAt = Date.now() + patience;
    for (let pause = 20; ; pause = Math.min(pause * 2, 1_000)) {
      try {
        const outputs = await this.#options.execute(job.data);
        const limit = this.#options.maxResultBytes ?? 8 * 1024 * 1024;
        const size = Buffer.byteLength(outputs);
        if (size > limit) {
          throw new Error(`RESULT_TOO_LARGE: the outputs are ${size} bytes as JSON, more than the ${limit} bytes a job may keep (JOB_MAX_RESULT_BYTES)`);
        }
        return outputs;
      } catch (error) {
        if (isSwitchyardError(error)) {
          if (TRANSIENT.has(error.code) && Date.now() + pause < giveUpAt) {
            await sleep(pause);
            continue;
          }
          throw new Error(`${error.code}: ${error.message}`);
        }
        throw error;
      }
    }
  }

  #finished(job: Job<PredictionJobData, string>, outcome: JobOutcome): void {
    if (job.id === undefined || this.#handedBack.has(job.id)) return;
    const ms = (job.finishedOn ?? Date.now()) - job.timestamp;
    this.#options.observer?.jobFinished(job.data.model, outcome, ms);
    // Not awaited: if Redis fails us here, reconciling drops the input and gives the place back later.
    this.#ledger.settle(job.id).catch(() => undefined);
  }
}
