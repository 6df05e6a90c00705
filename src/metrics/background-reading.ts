/**
 * A value read from a source that may be slow or hang (Redis), refreshed in the background so
 * that its reader, a Prometheus scrape, answers from memory at once and never waits on the
 * source. At most one read is in flight; one that has not settled within `timeoutMs` counts as
 * failed (its late answer is dropped) and the next tick may start another. A failed read keeps
 * the last good value, and `ageSeconds()` says how old that value is, so staleness is visible
 * instead of a scrape that hangs or a series that silently disappears.
 */
import { performance } from 'node:perf_hooks';

export interface BackgroundReadingOptions<T> {
  /** Reads the value; it may reject or never settle. Required. */
  readonly read: () => Promise<T>;
  /** Time between two reads (the first one starts with `start()`). Required. */
  readonly intervalMs: number;
  /** A read not settled by then has failed. Required. */
  readonly timeoutMs: number;
  /** Told of each failed read (e.g. to log it). Default none. */
  readonly onError?: ((error: unknown) => void) | undefined;
}

export class BackgroundReading<T> {
  readonly #read: () => Promise<T>;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  #value: T | undefined;
  /** performance.now() of the last successful read; undefined before the first. */
  #readAt: number | undefined;
  #inFlight = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: BackgroundReadingOptions<T>) {
    this.#read = options.read;
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#onError = options.onError;
  }

  /** Reads now and then every interval, until close(). Safe to call twice. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
    this.#tick();
  }

  /** The last value read successfully; undefined before the first. */
  get value(): T | undefined {
    return this.#value;
  }

  /** Seconds since the last successful read; Infinity before the first. */
  ageSeconds(): number {
    return this.#readAt === undefined ? Number.POSITIVE_INFINITY : (performance.now() - this.#readAt) / 1000;
  }

  /** Stops reading (a read in flight is left to settle and ignored). Safe to call twice. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  #tick(): void {
    if (this.#inFlight || this.#closed) return;
    this.#inFlight = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      timer.unref();
    });
    Promise.race([Promise.resolve().then(this.#read), timeout])
      .then(
        (value) => {
          if (this.#closed) return;
          this.#value = value;
          this.#readAt = performance.now();
        },
        (error: unknown) => {
          if (!this.#closed) this.#onError?.(error);
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.#inFlight = false;
      });
  }
}
