/**
 * Per model version counters kept by the scheduler: what `GET /models/:name`, the V2 statistics
 * extension and (later) Prometheus metrics read. Totals only; averages are derived by readers.
 */

export interface VersionCounters {
  /** Requests accepted by the scheduler (queued). */
  readonly requests: number;
  /** Requests answered with outputs. */
  readonly successes: number;
  /** Requests that failed once they ran (inference errors, version gone at execution). */
  readonly failures: number;
  /** session.run calls (one per batch). */
  readonly executions: number;
  /** Rows run, summed over executions: inferredRows / executions is the average batch size. */
  readonly inferredRows: number;
  /** Total time requests spent queued before their batch started, ms. */
  readonly queueTimeMs: number;
  /** Total time of session.run per execution, ms. */
  readonly computeTimeMs: number;
  /** Refused at once because the queue was full (503). */
  readonly rejectedQueueFull: number;
  /** Dropped because their deadline passed before they ran (504, never executed). */
  readonly rejectedDeadline: number;
  /** Dropped because the client went away before they ran. */
  readonly cancelled: number;
  /**
   * Merged batches that onnxruntime rejected and that were rerun one request at a time, so only
   * the request that caused the failure fails (each rerun counts as an execution).
   */
  readonly splits: number;
  /** When the last execution finished, epoch ms; 0 before the first. */
  readonly lastInferenceAt: number;
}

export function emptyCounters(): { -readonly [K in keyof VersionCounters]: VersionCounters[K] } {
  return {
    requests: 0,
    successes: 0,
    failures: 0,
    executions: 0,
    inferredRows: 0,
    queueTimeMs: 0,
    computeTimeMs: 0,
    rejectedQueueFull: 0,
    rejectedDeadline: 0,
    cancelled: 0,
    splits: 0,
    lastInferenceAt: 0,
  };
}
