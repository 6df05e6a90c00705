/**
 * Reads jobs as clients see them: BullMQ's job -> a JobView, scoped to the API key that
 * submitted it, blind to jobs past their retention (even before BullMQ's lazy clean-up removed
 * them), and consistent when the job moves on between two reads (never SUCCESS without outputs,
 * never PROCESSING without a start).
 */
import type { Job, Queue } from 'bullmq';
import { boundedOperation } from './bounded-operation.js';
import { jobStatusOf, type JobStatus, type JobView, type PredictionJobData } from './prediction-job.js';
import { JOB_ID } from './submission-identity.js';

export type PredictionBullJob = Job<PredictionJobData, string>;

export interface JobReaderOptions {
  readonly queue: Queue<PredictionJobData, string>;
  /** Seconds a finished job stays readable. */
  readonly retentionSeconds: number;
  /** Longest wait for Redis per read. */
  readonly timeoutMs: number;
}

export class JobReader {
  readonly #queue: Queue<PredictionJobData, string>;
  readonly #retentionMs: number;
  readonly #timeoutMs: number;

  constructor(options: JobReaderOptions) {
    this.#queue = options.queue;
    this.#retentionMs = options.retentionSeconds * 1000;
    this.#timeoutMs = options.timeoutMs;
  }

  /** The stored job whatever its owner; undefined for an id that is not a job id or not there. */
  async find(id: string): Promise<PredictionBullJob | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    return boundedOperation('read the job', this.#timeoutMs, () => this.#queue.getJob(id));
  }

  /** The stored job if `requester` may see it (its submitter, or anyone for a job without owner). */
  async findFor(id: string, requester: string | undefined): Promise<PredictionBullJob | undefined> {
    const job = await this.find(id);
    return job && job.data.owner !== undefined && job.data.owner !== requester ? undefined : job;
  }

  /** The job's view now; undefined once it is past retention or gone. */
  async currentView(job: PredictionBullJob, reread = false): Promise<JobView | undefined> {
    if (job.finishedOn !== undefined) {
      if (Date.now() - job.finishedOn > this.#retentionMs) {
        await job.remove().catch(() => undefined); // past retention: gone, whether or not BullMQ cleaned up yet
        return undefined;
      }
      return viewOf(job, job.failedReason ? 'FAILED' : 'SUCCESS');
    }
    const state = await boundedOperation('read the job', this.#timeoutMs, () => job.getState());
    if (state === 'unknown') return undefined;
    const status = jobStatusOf(state);
    // The job moved on between the two reads (e.g. read while waiting, finished since): read it
    // again, so that the view never says SUCCESS without outputs or PROCESSING without a start.
    const stale = (status === 'PROCESSING' && job.processedOn == null) || status === 'SUCCESS' || status === 'FAILED';
    if (stale && !reread) {
      const fresh = await this.find(job.id!);
      return fresh ? this.currentView(fresh, true) : undefined;
    }
    return viewOf(job, status);
  }
}

/** The view of a job in a known status. */
export function viewOf(job: PredictionBullJob, status: JobStatus): JobView {
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
