/**
 * A cumulative, log-bucketed histogram of request latencies per model version, cheap enough for
 * the hot path (one array increment per answered request). Cumulative so a reader judges any
 * window by subtracting two snapshots (what a rollout check does), with no reset that would race
 * another reader. Buckets grow by 10 %, so a percentile read from them is within 10 % of the true
 * value: fine for "p99 at most 1.2x the primary's", not for a benchmark.
 */

/** Upper bound of bucket 0, ms. */
const FIRST_BUCKET_MS = 0.05;
const GROWTH = 1.1;
/** 0.05 ms * 1.1^180 is about 1.5 hours: everything above lands in the last bucket. */
export const LATENCY_BUCKETS = 181;

/** Latencies (ms) and outcomes of answered requests since a version's first one. */
export interface LatencySnapshot {
  /** counts[i]: requests whose latency fell into bucket i (see latencyBucketUpperMs). */
  readonly counts: readonly number[];
  /** Requests answered with outputs. */
  readonly successes: number;
  /** Requests that failed once they ran. */
  readonly failures: number;
}

export function latencyBucketUpperMs(bucket: number): number {
  return FIRST_BUCKET_MS * GROWTH ** bucket;
}

function bucketOf(ms: number): number {
  if (!(ms > FIRST_BUCKET_MS)) return 0;
  return Math.min(LATENCY_BUCKETS - 1, Math.ceil(Math.log(ms / FIRST_BUCKET_MS) / Math.log(GROWTH)));
}

export class LatencyHistogram {
  readonly #counts = new Array<number>(LATENCY_BUCKETS).fill(0);
  #successes = 0;
  #failures = 0;

  /** One answered request: `ms` from joining the queue to its answer. */
  record(ms: number, ok: boolean): void {
    this.#counts[bucketOf(ms)]! += 1;
    if (ok) this.#successes += 1;
    else this.#failures += 1;
  }

  snapshot(): LatencySnapshot {
    return { counts: [...this.#counts], successes: this.#successes, failures: this.#failures };
  }
}

export function emptyLatencySnapshot(): LatencySnapshot {
  return { counts: new Array<number>(LATENCY_BUCKETS).fill(0), successes: 0, failures: 0 };
}

/** What happened between two snapshots of one version (`before` may be from before its first request). */
export function latencyWindow(before: LatencySnapshot, after: LatencySnapshot): LatencySnapshot {
  return {
    counts: after.counts.map((count, i) => Math.max(0, count - (before.counts[i] ?? 0))),
    successes: Math.max(0, after.successes - before.successes),
    failures: Math.max(0, after.failures - before.failures),
  };
}

/** The latency at quantile q (0..1) of a window, as its bucket's upper bound; undefined when empty. */
export function latencyQuantileMs(window: LatencySnapshot, q: number): number | undefined {
  const total = window.counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return undefined;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < window.counts.length; i++) {
    seen += window.counts[i]!;
    if (seen >= rank) return latencyBucketUpperMs(i);
  }
  return latencyBucketUpperMs(window.counts.length - 1);
}
