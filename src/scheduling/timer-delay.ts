/** A deadline's distance as a delay Node's timers keep. */

/** Node's longest timer: a longer delay fires after 1 ms instead. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Clamped, not only floored: the gateway accepts timeouts up to MAX_TIMER_DELAY_MS, and
 * (now + t) - now can come out an ulp above t in floating point (for about a quarter of the
 * values `now` takes), which Node would turn into an immediate expiry: a 504 for the longest
 * valid timeout.
 */
export function timerDelayMs(ms: number): number {
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(0, ms));
}
