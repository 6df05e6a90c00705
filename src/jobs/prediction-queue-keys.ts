/**
 * Where async jobs live in Redis: BullMQ's own layout under `<REDIS_PREFIX>jobs:predictions:`
 * (so any BullMQ tool can inspect the queue), and the few keys of our own beside it. Ours all
 * have a ':' right after the queue's base, and job ids never contain one, so no key of ours can
 * ever be read as a job.
 */

/** The queue's name under the BullMQ prefix. */
export const PREDICTION_QUEUE_NAME = 'predictions';

export interface PredictionQueueKeys {
  /** BullMQ's `prefix` option: `<REDIS_PREFIX>jobs`. */
  readonly bullPrefix: string;
  /** The start of every key of the queue: `<REDIS_PREFIX>jobs:predictions:`. */
  readonly base: string;
  /** The hash BullMQ keeps a job in. */
  job(id: string): string;
  /** The tombstone of a cancelled job. */
  tombstone(id: string): string;
  /** The pending ledger: a hash of every unfinished job's id -> `<input bytes>:<admitted at, epoch ms>`. */
  readonly pendingJobs: string;
  /** The sum of the input bytes in the pending ledger. */
  readonly pendingBytes: string;
}

export function predictionQueueKeys(prefix: string): PredictionQueueKeys {
  const bullPrefix = `${prefix}jobs`;
  const base = `${bullPrefix}:${PREDICTION_QUEUE_NAME}:`;
  return {
    bullPrefix,
    base,
    job: (id) => base + id,
    tombstone: (id) => `${base}cancelled:${id}`,
    pendingJobs: `${base}pending:jobs`,
    pendingBytes: `${base}pending:bytes`,
  };
}
