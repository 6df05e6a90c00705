/**
 * A rate limit as operators state it (a sustained rate and a burst) and the fixed window that
 * rate-limiter-flexible enforces for it.
 *
 * A token bucket of capacity `burst` refilled at `rps` tokens per second is approximated the way
 * rate-limiter-flexible's own docs do it: `points = burst` per window of `duration = burst / rps`
 * seconds. A full bucket lets `burst` requests through at once and the long-run rate is `rps`;
 * the difference from a true bucket is that the tokens come back all at once when the window
 * ends rather than one every 1/rps s (so a client that saves nothing may, right at a window
 * edge, send up to 2 × burst). In exchange each check is one atomic INCR script in Redis, so
 * every replica shares one count. (BurstyRateLimiter, the library's other burst pattern, adds a
 * second counter and a second round trip on the burst path, and its long-run rate is rps plus the
 * burst allowance, which is harder to state.)
 */

export interface RateLimitPolicy {
  /** Sustained requests per second (> 0; fractions allowed, e.g. 0.5 = one every 2 s). */
  readonly rps: number;
  /** Requests allowed at once from a full bucket (integer ≥ 1). */
  readonly burst: number;
}

export interface RateLimitWindow {
  /** rate-limiter-flexible `points`: requests per window. */
  readonly points: number;
  /** rate-limiter-flexible `duration`: whole seconds (Redis expiries are in seconds). */
  readonly durationSeconds: number;
}

/** The burst when only a rate is given: one second's worth, at least 1. */
export function defaultBurst(rps: number): number {
  return Math.max(1, Math.ceil(rps));
}

export function windowOf(policy: RateLimitPolicy): RateLimitWindow {
  return { points: policy.burst, durationSeconds: Math.max(1, Math.round(policy.burst / policy.rps)) };
}

/** Checks a policy from untrusted text (a Redis override); undefined when it is not one. */
export function parsePolicy(rps: string | undefined, burst: string | undefined): RateLimitPolicy | undefined {
  const rate = Number(rps);
  if (rps === undefined || rps.trim() === '' || !Number.isFinite(rate) || rate <= 0) return undefined;
  if (burst === undefined || burst.trim() === '') return { rps: rate, burst: defaultBurst(rate) };
  const size = Number(burst);
  if (!Number.isInteger(size) || size < 1) return undefined;
  return { rps: rate, burst: size };
}
