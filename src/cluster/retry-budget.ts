/**
 * The retry budget: retries may add at most `ratio` of the first attempts over a sliding window,
 * plus a floor of `minPerSecond` retries per second so a quiet gateway can still retry at all.
 * As Finagle's RetryBudget (a deposit per request, a reserve of minRetriesPerSec * ttl): the
 * allowance over the window is `ratio * requests + minPerSecond * windowSeconds`, and a retry is
 * allowed while the retries already counted in the window stay below it. Without a budget a
 * failing fleet doubles its own load with retries just when it can least take it; with it, at
 * 10 000 requests in the window at most 1 000 + 30 retries go out (default ratio 0.1, floor 3/s,
 * 10 s window), and at 20 requests 2 + 30.
 */
import type { RetryBudget } from './cluster-types.js';
import { SlidingWindowCounts } from './sliding-window-counts.js';

/** Told of each retry asked for, allowed or refused (the metrics). Must not throw. */
export interface RetryBudgetObserver {
  retryBudgetDecision?(allowed: boolean): void;
}

export interface RetryBudgetOptions {
  /** Retries per first attempt at most (0 = only the floor). Default 0.1 (RETRY_BUDGET_RATIO). */
  readonly ratio?: number;
  /** Retries per second allowed whatever the traffic (0 = no floor). Default 3 (RETRY_BUDGET_MIN_PER_SECOND). */
  readonly minPerSecond?: number;
  /** The sliding window, ms. Default 10000 (RETRY_BUDGET_WINDOW_MS). */
  readonly windowMs?: number;
  /** Default: none. */
  readonly observer?: RetryBudgetObserver | undefined;
  /** Epoch ms. Default Date.now (tests drive their own). */
  readonly now?: () => number;
}

export const RETRY_BUDGET_DEFAULTS = Object.freeze({ ratio: 0.1, minPerSecond: 3, windowMs: 10_000 });

export class SlidingRetryBudget implements RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #window: SlidingWindowCounts<'request' | 'retry'>;
  readonly #observer: RetryBudgetObserver | undefined;
  readonly #now: () => number;

  constructor(options: RetryBudgetOptions = {}) {
    this.#ratio = options.ratio ?? RETRY_BUDGET_DEFAULTS.ratio;
    const minPerSecond = options.minPerSecond ?? RETRY_BUDGET_DEFAULTS.minPerSecond;
    const windowMs = options.windowMs ?? RETRY_BUDGET_DEFAULTS.windowMs;
    if (!(this.#ratio >= 0) || !(minPerSecond >= 0)) throw new RangeError(`a retry budget needs ratio >= 0 and minPerSecond >= 0, got ${this.#ratio} and ${minPerSecond}`);
    this.#reserve = (minPerSecond * windowMs) / 1000;
    this.#window = new SlidingWindowCounts({ windowMs, keys: ['request', 'retry'] });
    this.#observer = options.observer;
    this.#now = options.now ?? Date.now;
  }

  recordRequest(): void {
    this.#window.add('request', this.#now());
  }

  tryAcquireRetry(): boolean {
    const now = this.#now();
    const allowance = this.#ratio * this.#window.total('request', now) + this.#reserve;
    const allowed = this.#window.total('retry', now) + 1 <= allowance;
    if (allowed) this.#window.add('retry', now);
    this.#observer?.retryBudgetDecision?.(allowed);
    return allowed;
  }
}
