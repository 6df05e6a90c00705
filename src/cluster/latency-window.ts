/**
 * The p50 and p99 of this node's recent inference latencies, for its heartbeat: a sliding window
 * of one-second slots, each a fixed histogram of log-spaced buckets, so recording is a few
 * arithmetic operations and memory is bounded whatever the traffic (no samples are kept). A
 * quantile is the upper edge of the bucket it falls in (about 10 % resolution), which is what a
 * load balancer's view of a peer needs; the exact distribution is in /metrics.
 */
import { performance } from 'node:perf_hooks';
import type { InferenceRequest, InferenceResult, InferenceScheduler } from '../scheduling/inference-scheduler.js';

export interface LatencyWindowOptions {
  /** How far back the quantiles look. Default 10 s. */
  readonly windowMs?: number;
  /** Clock in ms (monotonic). Default performance.now. */
  readonly now?: () => number;
}

/** Bucket i covers (MIN_MS * GROWTH^(i-1), MIN_MS * GROWTH^i]; bucket 0 is everything up to MIN_MS. */
const MIN_MS = 0.05;
const GROWTH = 1.1;
/** 0.05 ms .. about 15 minutes; anything slower lands in the last bucket. */
const BUCKETS = 176;
const SLOT_MS = 1_000;

export class LatencyWindow {
  readonly #slots: Array<{ start: number; counts: Uint32Array; total: number }>;
  readonly #now: () => number;

  constructor(options: LatencyWindowOptions = {}) {
    const slots = Math.max(1, Math.ceil((options.windowMs ?? 10_000) / SLOT_MS));
    this.#now = options.now ?? (() => performance.now());
    this.#slots = Array.from({ length: slots }, () => ({ start: -Infinity, counts: new Uint32Array(BUCKETS), total: 0 }));
  }

  record(ms: number): void {
    if (!(ms >= 0)) return;
    const start = Math.floor(this.#now() / SLOT_MS) * SLOT_MS;
    const slot = this.#slots[(start / SLOT_MS) % this.#slots.length]!;
    if (slot.start !== start) {
      slot.start = start;
      slot.counts.fill(0);
      slot.total = 0;
    }
    const bucket = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(GROWTH)));
    slot.counts[bucket]! += 1;
    slot.total += 1;
  }

  /** p50 and p99 in ms over the window; 0 for both when nothing was recorded in it. */
  quantiles(): { p50Ms: number; p99Ms: number; count: number } {
    const oldest = Math.floor(this.#now() / SLOT_MS) * SLOT_MS - (this.#slots.length - 1) * SLOT_MS;
    const live = this.#slots.filter((slot) => slot.start >= oldest);
    const count = live.reduce((sum, slot) => sum + slot.total, 0);
    if (count === 0) return { p50Ms: 0, p99Ms: 0, count: 0 };
    return { p50Ms: this.#quantile(live, count, 0.5), p99Ms: this.#quantile(live, count, 0.99), count };
  }

  /** The scheduler `inner`, with the time of each answered request recorded here. */
  timing(inner: InferenceScheduler): InferenceScheduler {
    const record = (started: number) => this.record(performance.now() - started);
    return {
      infer: async (request: InferenceRequest): Promise<InferenceResult> => {
        const started = performance.now();
        const result = await inner.infer(request);
        record(started);
        return result;
      },
      drain: () => inner.drain(),
      ...(inner.counters ? { counters: (model: string, version: number) => inner.counters!(model, version) } : {}),
    };
  }

  #quantile(slots: ReadonlyArray<{ counts: Uint32Array }>, count: number, q: number): number {
    const rank = Math.max(1, Math.ceil(q * count));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      for (const slot of slots) seen += slot.counts[bucket]!;
      if (seen >= rank) return round(MIN_MS * GROWTH ** bucket);
    }
    return round(MIN_MS * GROWTH ** (BUCKETS - 1));
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
