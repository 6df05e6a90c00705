/**
 * Who a submitted job is, fixed before anything is written: its id (random, or derived from the
 * client's Idempotency-Key so that every retry of one request names the same job), a fingerprint
 * of what was asked (a reused key must ask the same), and a token unique to the submit call
 * (tells the job a call created from one an earlier call with the same key created).
 */
import { createHash, randomUUID } from 'node:crypto';
import { SwitchyardError } from '../errors.js';
import type { PredictionJobData, PredictionJobSubmission } from './prediction-job.js';

/** Job ids the API accepts in paths: our UUIDs and idempotency-derived ids. */
export const JOB_ID = /^[A-Za-z0-9_-]{1,100}$/;

export interface SubmissionIdentity {
  readonly id: string;
  readonly fingerprint: string;
  /** Unique per submit call. */
  readonly submission: string;
}

export function submissionIdentity(submission: PredictionJobSubmission): SubmissionIdentity {
  const fingerprint = createHash('sha256')
    .update(`${submission.model}\u0000${submission.versionSpec ?? ''}\u0000${submission.payload}`)
    .digest('hex');
  const id =
    submission.idempotencyKey === undefined
      ? randomUUID()
      : `k-${createHash('sha256').update(`${submission.client ?? ''}\u0000${submission.idempotencyKey}`).digest('hex').slice(0, 40)}`;
  return { id, fingerprint, submission: randomUUID() };
}

/**
 * What the stored job under a keyed id is to this call: the job it created itself, or an earlier
 * call's job (a replay). A job asked for differently under the same key is a 409.
 */
export function replayOf(stored: Pick<PredictionJobData, 'fingerprint' | 'submission'>, identity: SubmissionIdentity, key: string): 'created' | 'replayed' {
  if (stored.fingerprint !== identity.fingerprint) {
    throw new SwitchyardError(
      'IDEMPOTENCY_KEY_REUSED',
      `Idempotency-Key '${key}' was used for a different request (job ${identity.id})`,
      { details: { job_id: identity.id } },
    );
  }
  return stored.submission === identity.submission ? 'created' : 'replayed';
}
