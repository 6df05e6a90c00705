/**
 * One target's circuit breaker: closed while its error ratio over a sliding window stays low,
 * open (no traffic) for a while once it is high over enough requests, then half-open, where it
 * hands out one probe request at a time; the probe's success closes it, its failure opens it again.
 *
 * Our own rather than cockatiel's CircuitBreakerPolicy or opossum's CircuitBreaker: both own the
 * call (`execute(fn)` / `fire()`) and admit the half-open probe inside it, while here the caller
 * asks first (UpstreamHealth.select() picks among candidates and hands the probe out) and reports
 * the outcome later, with no handle on the call; neither takes a clock (cockatiel reads
 * Date.now(), opossum runs a timer per breaker), and cockatiel's minimum is a rate where we want
 * a request count. What we need is this small state machine over SlidingWindowCounts.
 *
 * Outcomes are not tied to requests: a success reported while half-open closes the breaker even
 * if it came from a request sent before it opened (it is still news that the target answers), and
 * outcomes reported while open only count toward nothing (the window starts afresh on closing).
 */
import { SlidingWindowCounts } from './sliding-window-counts.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Opens when failures / requests in the window reaches this (0 < ratio <= 1). Default 0.5. */
  readonly errorRatio?: number;
  /** ...and the window holds at least this many requests (successes + failures). Default 20. */
  readonly minRequests?: number;
  /** The sliding window of outcomes, ms. Default 10000. */
  readonly windowMs?: number;
  /** How long it stays open before half-opening, ms. Default 5000. */
  readonly openMs?: number;
  /**
   * A probe handed out whose outcome is not reported within this is taken as lost (its request
   * went elsewhere or was never sent) and the next caller gets a new probe. Default: openMs.
   */
  readonly probeLeaseMs?: number;
  /** Told of every state change. Must not throw. */
  readonly onChange?: (from: BreakerState, to: BreakerState) => void;
}

export const BREAKER_DEFAULTS = Object.freeze({ errorRatio: 0.5, minRequests: 20, windowMs: 10_000, openMs: 5_000 });

/** What admit() says about one request. */
export type Admission = 'allowed' | 'probe' | 'refused';

export class CircuitBreaker {
  readonly #errorRatio: number;
  readonly #minRequests: number;
  readonly #openMs: number;
  readonly #probeLeaseMs: number;
  readonly #onChange: ((from: BreakerState, to: BreakerState) => void) | undefined;
  readonly #window: SlidingWindowCounts<'success' | 'failure'>;
  #state: BreakerState = 'closed';
  #openedAt = 0;
  /** While half-open: when the outstanding probe's lease ends (undefined = no probe out). */
  #probeUntil: number | undefined;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#errorRatio = options.errorRatio ?? BREAKER_DEFAULTS.errorRatio;
    this.#minRequests = options.minRequests ?? BREAKER_DEFAULTS.minRequests;
    this.#openMs = options.openMs ?? BREAKER_DEFAULTS.openMs;
    this.#probeLeaseMs = options.probeLeaseMs ?? this.#openMs;
    this.#onChange = options.onChange;
    if (!(this.#errorRatio > 0 && this.#errorRatio <= 1)) throw new RangeError(`errorRatio must be in (0, 1], got ${this.#errorRatio}`);
    this.#window = new SlidingWindowCounts({ windowMs: options.windowMs ?? BREAKER_DEFAULTS.windowMs, keys: ['success', 'failure'] });
  }

  /** The state at `now` (an open breaker whose time is up is half-open). */
  state(now: number): BreakerState {
    if (this.#state === 'open' && now - this.#openedAt >= this.#openMs) this.#move('half-open');
    return this.#state;
  }

  /**
   * May one request go to the target now? Closed: allowed. Open: refused. Half-open: `probe` to
   * the first caller (the probe is then out until its outcome is reported or its lease ends),
   * refused to the others.
   */
  admit(now: number): Admission {
    const state = this.state(now);
    if (state === 'closed') return 'allowed';
    if (state === 'open') return 'refused';
    if (this.#probeUntil !== undefined && now < this.#probeUntil) return 'refused';
    this.#probeUntil = now + this.#probeLeaseMs;
    return 'probe';
  }

  success(now: number): void {
    const state = this.state(now);
    if (state === 'closed') this.#window.add('success', now);
    else if (state === 'half-open') this.#close();
  }

  failure(now: number): void {
    const state = this.state(now);
    if (state === 'half-open') {
      this.#open(now);
      return;
    }
    if (state === 'open') return;
    this.#window.add('failure', now);
    const failures = this.#window.total('failure', now);
    const requests = failures + this.#window.total('success', now);
    if (requests >= this.#minRequests && failures >= this.#errorRatio * requests) this.#open(now);
  }

  #open(now: number): void {
    this.#openedAt = now;
    this.#probeUntil = undefined;
    this.#move('open');
  }

  #close(): void {
    this.#probeUntil = undefined;
    this.#window.reset();
    this.#move('closed');
  }

  #move(to: BreakerState): void {
    const from = this.#state;
    this.#state = to;
    if (from !== to) this.#onChange?.(from, to);
  }
}
