/**
 * An async prediction job as the rest of the gateway sees it: what is stored with the job (the
 * concrete version resolved at submit time and the request body, validated already), and the
 * client's view of it. BullMQ's states map onto five statuses; CANCELLED is ours (a removed job
 * leaves a tombstone so that its id keeps answering).
 */

export type JobStatus = 'PENDING' | 'PROCESSING' | 'SUCCESS' | 'FAILED' | 'CANCELLED';

/** Stored with each job in Redis; every replica's worker can run it from this alone. */
export interface PredictionJobData {
  readonly model: string;
  /** The concrete version, resolved when the job was submitted. */
  readonly version: number;
  /**
   * The native request body (`{"inputs": ..., "outputs"?: [...]}`) as JSON text. Dropped from
   * Redis once the job has finished (its result or error is what is kept).
   */
  readonly payload: string;
  /** Hash of what was asked (model, version as asked, body): a reused Idempotency-Key must match it. */
  readonly fingerprint: string;
  /** Unique per submit call: tells a job we created from one an Idempotency-Key found. */
  readonly submission: string;
  /** The x-request-id of the submitting request, for logs. */
  readonly requestId?: string | undefined;
  /** The API key (its id) that submitted the job; only it may read or cancel the job. */
  readonly owner?: string | undefined;
}

/** What a submit asks for: the job's model, resolved version, body and request id, plus: */
export interface PredictionJobSubmission extends Pick<PredictionJobData, 'model' | 'version' | 'payload' | 'requestId'> {
  /** The version as the client asked for it (an alias, a number, or absent), for the fingerprint. */
  readonly versionSpec?: string | undefined;
  /** With a key, a repeated submit returns the existing job. Keys are scoped by `client`. */
  readonly idempotencyKey?: string | undefined;
  /** The submitting API key's id (API_KEYS set): owns the job and scopes its Idempotency-Key. */
  readonly client?: string | undefined;
}

export interface JobView extends Pick<PredictionJobData, 'model' | 'version'> {
  readonly id: string;
  readonly status: JobStatus;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly startedAt?: number | undefined;
  readonly finishedAt?: number | undefined;
  /** The outputs object as JSON text (`{"<output>": <nested array>, ...}`), once SUCCESS. */
  readonly outputsJson?: string | undefined;
  /** Why the job FAILED, or that it was cancelled. */
  readonly error?: string | undefined;
}

/** Job counts of the whole queue (every replica's jobs). */
export interface JobCounts {
  readonly pending: number;
  readonly processing: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** BullMQ's job states -> the statuses clients see. */
export function jobStatusOf(state: string): JobStatus {
  switch (state) {
    case 'active':
      return 'PROCESSING';
    case 'completed':
      return 'SUCCESS';
    case 'failed':
      return 'FAILED';
    default:
      // waiting, delayed, prioritized, waiting-children, paused: not started yet.
      return 'PENDING';
  }
}

/** The job as `GET /jobs/:id` answers it, as JSON text (the outputs are spliced in unparsed). */
export function jobViewToJson(view: JobView): string {
  const head = {
    job_id: view.id,
    status: view.status,
    model_name: view.model,
    model_version: String(view.version),
    created_at: new Date(view.createdAt).toISOString(),
    ...(view.startedAt === undefined ? {} : { started_at: new Date(view.startedAt).toISOString() }),
    ...(view.finishedAt === undefined ? {} : { finished_at: new Date(view.finishedAt).toISOString() }),
    ...(view.error === undefined ? {} : { error: view.error }),
  };
  const text = JSON.stringify(head);
  return view.outputsJson === undefined ? text : `${text.slice(0, -1)},"outputs":${view.outputsJson}}`;
}
