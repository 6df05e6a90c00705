/**
 * The error catalog: every error a client can see, with its HTTP status. One place maps these to
 * responses (src/http/error-response.ts); a test holds this catalog to the README's table.
 */

export const ERROR_CATALOG = {
  INVALID_JSON: { status: 400, description: 'The body is not valid JSON.' },
  INVALID_REQUEST: { status: 400, description: 'The body does not have the shape the endpoint expects.' },
  INVALID_INPUT: { status: 400, description: 'An input tensor has the wrong name, datatype, rank, dims or element count.' },
  INVALID_MODEL_NAME: { status: 400, description: 'A model name or version in the path is not allowed (e.g. `..`).' },
  INVALID_ROLLOUT: { status: 400, description: 'A rollout request is not sound: a setting out of range (step, max weight, interval, thresholds), a target equal to the primary, or a `default` route that is not one version.' },
  MODEL_LOAD_FAILED: { status: 400, description: "A model load asked for through the repository API failed; the message gives onnxruntime's reason." },
  UNAUTHORIZED: { status: 401, description: 'A management endpoint was called without `Authorization: Bearer <ADMIN_TOKEN>` or with a wrong token, or (API_KEYS set) an inference endpoint without a valid API key (sent with `WWW-Authenticate: Bearer`).' },
  MODEL_NOT_FOUND: { status: 404, description: 'No model of that name is in the repository.' },
  VERSION_NOT_FOUND: { status: 404, description: 'The model has no such version (or it was removed).' },
  ALIAS_NOT_FOUND: { status: 404, description: 'The routing table has no such alias for the model.' },
  JOB_NOT_FOUND: { status: 404, description: 'No async prediction job has that id (never submitted, or its result expired after JOB_RETENTION_SECONDS).' },
  ROLLOUT_NOT_FOUND: { status: 404, description: 'The model has no rollout (none was ever started, or Redis lost it).' },
  NOT_FOUND: { status: 404, description: 'No such endpoint.' },
  JOB_NOT_CANCELLABLE: { status: 409, description: 'The job has already started or finished; only a PENDING job can be cancelled.' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, description: 'The Idempotency-Key was already used for a different request (another model, version or body).' },
  ROLLOUT_IN_PROGRESS: { status: 409, description: 'The model already has a rollout running; abort it first (`POST /admin/rollouts/<model>/abort`).' },
  ROLLOUT_FINISHED: { status: 409, description: 'The rollout has already ended (promoted, rolled back, aborted or stopped): there is nothing to abort.' },
  ROLLOUT_VERSION_NOT_READY: { status: 409, description: 'A rollout needs its primary and its target READY on this gateway; the message gives the version\'s state.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The body is larger than BODY_LIMIT_BYTES.' },
  RATE_LIMITED: { status: 429, description: "The client's or the model's rate limit is reached; retry after the Retry-After delay (RateLimit-* headers give the limit)." },
  INFERENCE_FAILED: { status: 500, description: 'onnxruntime failed while running a valid request.' },
  INTERNAL: { status: 500, description: 'An unexpected server fault.' },
  ASYNC_UNAVAILABLE: { status: 501, description: 'Async predictions (Prefer: respond-async, /jobs) need REDIS_URL; without it the gateway keeps no job queue.' },
  ROLLOUTS_UNAVAILABLE: { status: 501, description: 'Rollouts keep their state in Redis and need REDIS_URL.' },
  BAD_GATEWAY: { status: 502, description: 'The node or backend a request was forwarded to failed (refused or reset the connection, answered 5xx or something that is no inference response, or did not answer within FORWARD_TIMEOUT_MS); the message names it.' },
  VERSION_NOT_READY: { status: 503, description: 'The version exists but is not READY (loading, failed or draining).' },
  INVALID_ROUTE: { status: 503, description: 'The routing table entry is malformed, loops or names an unknown alias.' },
  ROUTING_UNAVAILABLE: { status: 503, description: 'The routing table could not be read and no earlier copy is known, or a route edit could not be written (nothing was changed).' },
  ROUTES_OUTCOME_UNKNOWN: { status: 503, description: 'A route edit reached Redis but was not answered in time: it may or may not have been applied, and can no longer apply later. `GET /admin/routes/<model>` shows which; repeating it (with the same Idempotency-Key) is safe.' },
  QUEUE_FULL: { status: 503, description: "The version's queue is full (max_queue_size); retry after the Retry-After delay." },
  JOBS_UNAVAILABLE: { status: 503, description: 'The job queue in Redis cannot be reached right now; nothing was queued (a submit names the job id it would have had in `details.job_id`), retry after the Retry-After delay.' },
  JOBS_FULL: { status: 503, description: 'Too many jobs are unfinished (JOB_MAX_PENDING) or their inputs hold too many bytes of Redis (JOB_MAX_PENDING_BYTES); nothing was queued, retry after the Retry-After delay.' },
  JOBS_OUTCOME_UNKNOWN: { status: 503, description: 'Redis stopped answering while the job was being written: it may or may not be queued. `details.job_id` is its id: `GET /jobs/<id>` settles it once Redis answers, and a retry with the same Idempotency-Key never makes a second job.' },
  NO_HEALTHY_BACKEND: { status: 503, description: 'No candidate can serve the version now: this process does not have it READY and no live node or healthy backend does (or every one is ejected as an outlier); retry after the Retry-After delay.' },
  CIRCUIT_OPEN: { status: 503, description: "Every candidate for the version has its circuit breaker open (too many recent failures); retry after the Retry-After delay." },
  SHUTTING_DOWN: { status: 503, description: 'The gateway is draining and takes no new requests.' },
  REQUEST_CANCELLED: { status: 499, description: 'The client closed the connection before its request ran (never sent; logged).' },
  DEADLINE_EXCEEDED: { status: 504, description: 'The request deadline passed before it could run.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface SwitchyardErrorOptions {
  details?: unknown;
  /** Seconds, sent as Retry-After on 429/503 answers. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: SwitchyardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isSwitchyardError(error: unknown): error is SwitchyardError {
  return error instanceof SwitchyardError;
}

/** A model file onnxruntime refused; never reaches a client directly, becomes a FAILED state's reason. */
export class ModelLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelLoadError';
  }
}

/** The message of anything thrown: an Error's message, else the value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
