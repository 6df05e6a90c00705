/**
 * Passive health of upstream targets (nodes, static backends), from the outcomes of the requests
 * forwarded to them: outlier ejection plus a circuit breaker per target (UpstreamHealth).
 *
 * Outlier ejection (as Envoy's consecutive-5xx detector): `consecutiveFailures` failures in a row
 * eject a target for `baseEjectionMs * 2^(ejections - 1)`, at most `maxEjectionMs`; a success resets
 * the run. Envoy's base is 30 s; ours is 2 s, because a gateway must take a restarted node back
 * within seconds, and a node that keeps failing still climbs to the 30 s cap in five ejections.
 * Each `ejectionDecayMs` after an ejection ended without a new one takes one off the count, so a
 * target that failed long ago starts again from the base time. Ejection never removes more than
 * half of the candidates asked about (floor(n / 2): one of two, one of three, none of one): beyond
 * that the least recently ejected stay in rotation, so a bad moment of every node (or a bug in our
 * own hop) does not empty the pool.
 *
 * The breaker (circuit-breaker.ts) is the second line: a target answering half of its requests
 * with errors opens, whatever their order, and half-opens with one probe at a time. select()
 * hands out at most one probe per call and names it (`probe`), so the caller can send that
 * request to it: a probe handed out and not used is lost until its lease ends. It is not
 * bound by the half rule: an open breaker removes its target, and with every target open the
 * caller answers CIRCUIT_OPEN.
 *
 * State per target lives until forget(); the caller forgets targets that left.
 */
import type { UpstreamFailure, UpstreamHealth, UpstreamHealthView } from './cluster-types.js';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.js';

export type UpstreamTargetKind = 'node' | 'backend';

/**
 * Watches ejections and breaker changes as they happen (the metrics, a log). Structurally
 * implemented by GatewayMetrics, so this module never imports prom-client. Must not throw.
 */
export interface UpstreamHealthObserver {
  upstreamEjected?(event: { readonly id: string; readonly kind: UpstreamTargetKind; readonly ejections: number; readonly durationMs: number }): void;
  upstreamBreakerChanged?(event: { readonly id: string; readonly kind: UpstreamTargetKind; readonly from: BreakerState; readonly to: BreakerState }): void;
  /** forget(): the target and its breaker state are gone (a gauge of open breakers stops counting it). */
  upstreamForgotten?(event: { readonly id: string; readonly kind: UpstreamTargetKind; readonly breaker: BreakerState }): void;
}

export interface UpstreamHealthTrackerOptions {
  /** Failures in a row that eject a target. Default 5 (OUTLIER_CONSECUTIVE_FAILURES). */
  readonly consecutiveFailures?: number;
  /** The first ejection's length, ms; each further one doubles it. Default 2000 (OUTLIER_BASE_EJECTION_MS). */
  readonly baseEjectionMs?: number;
  /** Longest ejection, ms. Default 30000 (OUTLIER_MAX_EJECTION_MS). */
  readonly maxEjectionMs?: number;
  /** Each this long without an ejection (counted from the last one's end) forgets one ejection. Default 30000 (OUTLIER_EJECTION_DECAY_MS). */
  readonly ejectionDecayMs?: number;
  /** Breaker: error ratio that opens it. Default 0.5 (BREAKER_ERROR_RATIO). */
  readonly breakerErrorRatio?: number;
  /** Breaker: requests the window must hold before the ratio counts. Default 20 (BREAKER_MIN_REQUESTS). */
  readonly breakerMinRequests?: number;
  /** Breaker: sliding window, ms. Default 10000 (BREAKER_WINDOW_MS). */
  readonly breakerWindowMs?: number;
  /** Breaker: time open before half-opening, ms. Default 5000 (BREAKER_OPEN_MS). */
  readonly breakerOpenMs?: number;
  /** Default: none. */
  readonly observer?: UpstreamHealthObserver | undefined;
  /** Epoch ms. Default Date.now (tests drive their own). */
  readonly now?: () => number;
}

export const OUTLIER_DEFAULTS = Object.freeze({ consecutiveFailures: 5, baseEjectionMs: 2_000, maxEjectionMs: 30_000, ejectionDecayMs: 30_000 });

/** Static backends' ids are `backend:<name>:<url>` (cluster-types.ts); every other id is a node's. */
export function targetKind(id: string): UpstreamTargetKind {
  return id.startsWith('backend:') ? 'backend' : 'node';
}

interface TargetHealth {
  readonly kind: UpstreamTargetKind;
  readonly breaker: CircuitBreaker;
  consecutiveFailures: number;
  ejections: number;
  /** When the current (or last) ejection began and ends; 0 = never ejected. */
  ejectedAt: number;
  ejectedUntil: number;
  /** Decay of `ejections` is counted from here (the last ejection's end, then each decay step). */
  decayFrom: number;
}

export class UpstreamHealthTracker implements UpstreamHealth {
  readonly #consecutiveFailures: number;
  readonly #baseEjectionMs: number;
  readonly #maxEjectionMs: number;
  readonly #ejectionDecayMs: number;
  readonly #breakerOptions: { errorRatio?: number; minRequests?: number; windowMs?: number; openMs?: number };
  readonly #observer: UpstreamHealthObserver | undefined;
  readonly #now: () => number;
  readonly #targets = new Map<string, TargetHealth>();

  constructor(options: UpstreamHealthTrackerOptions = {}) {
    this.#consecutiveFailures = options.consecutiveFailures ?? OUTLIER_DEFAULTS.consecutiveFailures;
    this.#baseEjectionMs = options.baseEjectionMs ?? OUTLIER_DEFAULTS.baseEjectionMs;
    this.#maxEjectionMs = options.maxEjectionMs ?? OUTLIER_DEFAULTS.maxEjectionMs;
    this.#ejectionDecayMs = options.ejectionDecayMs ?? OUTLIER_DEFAULTS.ejectionDecayMs;
    this.#breakerOptions = {
      ...(options.breakerErrorRatio !== undefined ? { errorRatio: options.breakerErrorRatio } : {}),
      ...(options.breakerMinRequests !== undefined ? { minRequests: options.breakerMinRequests } : {}),
      ...(options.breakerWindowMs !== undefined ? { windowMs: options.breakerWindowMs } : {}),
      ...(options.breakerOpenMs !== undefined ? { openMs: options.breakerOpenMs } : {}),
    };
    this.#observer = options.observer;
    this.#now = options.now ?? Date.now;
  }

  select(ids: readonly string[]): { readonly usable: readonly string[]; readonly excluded: ReadonlyArray<{ readonly id: string; readonly reason: 'ejected' | 'circuit-open' }>; readonly probe?: string | undefined } {
    const now = this.#now();
    const excluded: Array<{ id: string; reason: 'ejected' | 'circuit-open' }> = [];
    // Called per request: nothing but the two arrays is allocated while no candidate is ejected.
    let ejected: string[] | undefined;
    for (const id of ids) if (this.#isEjected(this.#targets.get(id), now)) (ejected ??= []).push(id);
    let keptOut: Set<string> | undefined;
    if (ejected) {
      // Ejected ones beyond half of the set are let back in, longest ejected first.
      const maxEjected = Math.floor(ids.length / 2);
      ejected.sort((a, b) => this.#targets.get(a)!.ejectedAt - this.#targets.get(b)!.ejectedAt);
      keptOut = new Set(ejected.slice(Math.max(0, ejected.length - maxEjected)));
    }
    const usable: string[] = [];
    // One request carries one probe: a second half-open target is not asked (its probe would be
    // handed out and lost), it stays out for this request and gives its probe to a later one.
    let probe: string | undefined;
    for (const id of ids) {
      if (keptOut?.has(id)) {
        excluded.push({ id, reason: 'ejected' });
        continue;
      }
      const target = this.#targets.get(id);
      if (!target) {
        usable.push(id);
        continue;
      }
      const admission = probe !== undefined && target.breaker.state(now) === 'half-open' ? 'refused' : target.breaker.admit(now);
      if (admission === 'refused') excluded.push({ id, reason: 'circuit-open' });
      else {
        if (admission === 'probe') probe = id;
        usable.push(id);
      }
    }
    return probe === undefined ? { usable, excluded } : { usable, excluded, probe };
  }

  recordSuccess(id: string): void {
    const target = this.#target(id);
    target.consecutiveFailures = 0;
    target.breaker.success(this.#now());
  }

  recordFailure(id: string, _failure: UpstreamFailure): void {
    const target = this.#target(id);
    const now = this.#now();
    target.breaker.failure(now);
    target.consecutiveFailures += 1;
    if (target.consecutiveFailures < this.#consecutiveFailures || this.#isEjected(target, now)) return;
    this.#decay(target, now);
    target.ejections += 1;
    const durationMs = Math.min(this.#maxEjectionMs, this.#baseEjectionMs * 2 ** (target.ejections - 1));
    target.ejectedAt = now;
    target.ejectedUntil = now + durationMs;
    target.decayFrom = target.ejectedUntil;
    target.consecutiveFailures = 0;
    this.#observer?.upstreamEjected?.({ id, kind: target.kind, ejections: target.ejections, durationMs });
  }

  describe(id: string): UpstreamHealthView {
    const target = this.#targets.get(id);
    if (!target) return { ejected: false, ejections: 0, consecutiveFailures: 0, breaker: 'closed' };
    const now = this.#now();
    this.#decay(target, now);
    const ejected = this.#isEjected(target, now);
    return {
      ejected,
      ...(ejected ? { ejectedUntil: target.ejectedUntil } : {}),
      ejections: target.ejections,
      consecutiveFailures: target.consecutiveFailures,
      breaker: target.breaker.state(now),
    };
  }

  forget(id: string): void {
    const target = this.#targets.get(id);
    if (!target) return;
    this.#targets.delete(id);
    this.#observer?.upstreamForgotten?.({ id, kind: target.kind, breaker: target.breaker.state(this.#now()) });
  }

  /** Targets with state (for tests and GET /cluster). */
  get size(): number {
    return this.#targets.size;
  }

  #target(id: string): TargetHealth {
    let target = this.#targets.get(id);
    if (!target) {
      const kind = targetKind(id);
      const observer = this.#observer;
      target = {
        kind,
        breaker: new CircuitBreaker({
          ...this.#breakerOptions,
          onChange: (from, to) => observer?.upstreamBreakerChanged?.({ id, kind, from, to }),
        }),
        consecutiveFailures: 0,
        ejections: 0,
        ejectedAt: 0,
        ejectedUntil: 0,
        decayFrom: 0,
      };
      this.#targets.set(id, target);
    }
    return target;
  }

  #isEjected(target: TargetHealth | undefined, now: number): boolean {
    return target !== undefined && now < target.ejectedUntil;
  }

  /** Takes one ejection off the count for each full decay period since the last ejection ended. */
  #decay(target: TargetHealth, now: number): void {
    if (target.ejections === 0 || this.#isEjected(target, now)) return;
    const steps = Math.floor((now - target.decayFrom) / this.#ejectionDecayMs);
    if (steps <= 0) return;
    target.ejections = Math.max(0, target.ejections - steps);
    target.decayFrom += steps * this.#ejectionDecayMs;
  }
}
