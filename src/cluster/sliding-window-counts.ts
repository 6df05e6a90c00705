/**
 * Counts over a sliding time window, kept in a ring of fixed buckets so memory is constant however
 * many events arrive: the circuit breaker's successes and failures, the retry budget's requests
 * and retries. The window slides one bucket at a time, so an event is counted for at least
 * `windowMs - windowMs / buckets` and at most `windowMs` after it happened (with the default 10
 * buckets, 90-100 % of the window). Time comes from the caller, so a test drives it by hand.
 */

export interface SlidingWindowCountsOptions<K extends string> {
  /** Length of the window in ms. */
  readonly windowMs: number;
  /** The counters kept (e.g. `['success', 'failure']`). */
  readonly keys: readonly K[];
  /** Buckets the window is cut into; more = smoother sliding, more memory. Default 10. */
  readonly buckets?: number;
}

interface Bucket {
  /** Which bucket of time (floor(now / bucketMs)) the counts belong to; -1 = never used. */
  epoch: number;
  readonly counts: number[];
}

export class SlidingWindowCounts<K extends string> {
  readonly #bucketMs: number;
  readonly #ring: Bucket[];
  readonly #index: ReadonlyMap<K, number>;

  constructor(options: SlidingWindowCountsOptions<K>) {
    const buckets = options.buckets ?? 10;
    if (!(options.windowMs > 0) || !Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError(`a sliding window needs windowMs > 0 and whole buckets >= 1, got ${options.windowMs} ms in ${buckets}`);
    }
    this.#bucketMs = options.windowMs / buckets;
    this.#index = new Map(options.keys.map((key, i) => [key, i]));
    this.#ring = Array.from({ length: buckets }, () => ({ epoch: -1, counts: options.keys.map(() => 0) }));
  }

  /** Counts `n` events of `key` at time `now` (epoch ms). */
  add(key: K, now: number, n = 1): void {
    const epoch = Math.floor(now / this.#bucketMs);
    const bucket = this.#ring[epoch % this.#ring.length]!;
    if (bucket.epoch !== epoch) {
      bucket.epoch = epoch;
      bucket.counts.fill(0);
    }
    bucket.counts[this.#index.get(key)!]! += n;
  }

  /** Events of `key` in the window ending at `now`. */
  total(key: K, now: number): number {
    const epoch = Math.floor(now / this.#bucketMs);
    const i = this.#index.get(key)!;
    let sum = 0;
    for (const bucket of this.#ring) {
      if (bucket.epoch > epoch - this.#ring.length && bucket.epoch <= epoch) sum += bucket.counts[i]!;
    }
    return sum;
  }

  /** Forgets every count (a breaker that closes starts a fresh window). */
  reset(): void {
    for (const bucket of this.#ring) {
      bucket.epoch = -1;
      bucket.counts.fill(0);
    }
  }
}
