/**
 * The statistics extension's `$model_stat` (Triton's shape) from the scheduler's per-version
 * counters. Durations are nanoseconds. What the counters do not measure is reported as zero
 * rather than guessed: per-request end-to-end time (success/fail `ns`), input/output copies,
 * the response cache, and per-batch-size histograms (`batch_stats` is empty).
 */
import type { VersionCounters } from '../scheduling/version-counters.js';

export interface DurationStat {
  readonly count: number;
  readonly ns: number;
}

export interface ModelStat {
  readonly name: string;
  readonly version: string;
  readonly last_inference: number;
  readonly inference_count: number;
  readonly execution_count: number;
  readonly inference_stats: {
    readonly success: DurationStat;
    readonly fail: DurationStat;
    readonly queue: DurationStat;
    readonly compute_input: DurationStat;
    readonly compute_infer: DurationStat;
    readonly compute_output: DurationStat;
    readonly cache_hit: DurationStat;
    readonly cache_miss: DurationStat;
  };
  readonly batch_stats: readonly never[];
}

const NONE: DurationStat = { count: 0, ns: 0 };

function ns(ms: number): number {
  return Math.round(ms * 1e6);
}

/** One version's statistics; a version the scheduler has not seen yet reports zeros. */
export function modelStat(name: string, version: number, counters: VersionCounters | undefined): ModelStat {
  if (!counters) {
    return {
      name,
      version: String(version),
      last_inference: 0,
      inference_count: 0,
      execution_count: 0,
      inference_stats: { success: NONE, fail: NONE, queue: NONE, compute_input: NONE, compute_infer: NONE, compute_output: NONE, cache_hit: NONE, cache_miss: NONE },
      batch_stats: [],
    };
  }
  // Triton counts every request that ended in an error as a failure, refused or expired ones too.
  const failed = counters.failures + counters.rejectedQueueFull + counters.rejectedDeadline + counters.cancelled;
  const ran = counters.successes + counters.failures;
  return {
    name,
    version: String(version),
    last_inference: counters.lastInferenceAt,
    inference_count: counters.inferredRows,
    execution_count: counters.executions,
    inference_stats: {
      success: { count: counters.successes, ns: 0 },
      fail: { count: failed, ns: 0 },
      queue: { count: ran, ns: ns(counters.queueTimeMs) },
      compute_input: { count: counters.executions, ns: 0 },
      compute_infer: { count: counters.executions, ns: ns(counters.computeTimeMs) },
      compute_output: { count: counters.executions, ns: 0 },
      cache_hit: NONE,
      cache_miss: NONE,
    },
    batch_stats: [],
  };
}
