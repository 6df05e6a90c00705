/**
 * What an operator asks of a rollout: the target version, how the split grows, how often it is
 * judged and by which thresholds. Parsed and checked before anything is written, with the
 * defaults the README documents, so a nonsense request (a step of 0, a weight above 100, an
 * interval shorter than ROLLOUT_MIN_INTERVAL_MS) is a 400 naming the field, never a rollout.
 */
import { z } from 'zod';
import { SwitchyardError } from '../errors.js';

/** The defaults of every rollout setting (the README's table). */
export const ROLLOUT_DEFAULTS = Object.freeze({
  /** Canary weight added per passing check, percent. */
  step: 10,
  /** Canary weight of the last step, percent; a passing check there promotes. */
  max_weight: 50,
  /** Time between checks, ms. */
  interval_ms: 30_000,
  /** The canary's error rate may exceed the primary's by this many percentage points. */
  max_error_rate_increase: 1,
  /** The canary's p99 may be at most this many times the primary's. */
  max_p99_ratio: 1.2,
  /** Canary requests a window needs to be judged; fewer is inconclusive (no step, no failure). */
  min_requests: 100,
  /** Failed checks (not necessarily in a row) after which the rollout rolls back. */
  max_failed_checks: 3,
});

export interface RolloutSpec {
  readonly model: string;
  readonly target: number;
  readonly step: number;
  readonly maxWeight: number;
  readonly intervalMs: number;
  readonly maxErrorRateIncrease: number;
  readonly maxP99Ratio: number;
  readonly minRequests: number;
  readonly maxFailedChecks: number;
}

export interface RolloutSpecOptions {
  /** Shortest interval allowed, ms (ROLLOUT_MIN_INTERVAL_MS). Default 1000. */
  readonly minIntervalMs?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function schema(minIntervalMs: number) {
  const percent = (name: string) =>
    z.number({ error: `${name} must be a number` }).int(`${name} must be a whole percentage`).min(1, `${name} must be at least 1 (%)`).max(100, `${name} must be at most 100 (%)`);
  return z
    .object({
      model: z.string({ error: 'model (the model name) is required' }),
      version: z.number({ error: 'version (the target version, an integer) is required' }).int('version must be an integer').positive('version must be positive'),
      step: percent('step').default(ROLLOUT_DEFAULTS.step),
      max_weight: percent('max_weight').default(ROLLOUT_DEFAULTS.max_weight),
      interval_ms: z
        .number({ error: 'interval_ms must be a number of milliseconds' })
        .int('interval_ms must be a whole number of milliseconds')
        .min(minIntervalMs, `interval_ms must be at least ${minIntervalMs} (ROLLOUT_MIN_INTERVAL_MS)`)
        .max(DAY_MS, `interval_ms must be at most ${DAY_MS} (a day)`)
        .default(ROLLOUT_DEFAULTS.interval_ms),
      max_error_rate_increase: z
        .number({ error: 'max_error_rate_increase must be a number of percentage points' })
        .min(0, 'max_error_rate_increase must be at least 0 (percentage points)')
        .max(100, 'max_error_rate_increase must be at most 100 (percentage points)')
        .default(ROLLOUT_DEFAULTS.max_error_rate_increase),
      max_p99_ratio: z
        .number({ error: 'max_p99_ratio must be a number' })
        .min(1, 'max_p99_ratio must be at least 1 (the canary may not be required to beat the primary)')
        .max(1000, 'max_p99_ratio must be at most 1000')
        .default(ROLLOUT_DEFAULTS.max_p99_ratio),
      min_requests: z.number({ error: 'min_requests must be a number' }).int('min_requests must be an integer').min(1, 'min_requests must be at least 1').default(ROLLOUT_DEFAULTS.min_requests),
      max_failed_checks: z
        .number({ error: 'max_failed_checks must be a number' })
        .int('max_failed_checks must be an integer')
        .min(1, 'max_failed_checks must be at least 1')
        .max(1000, 'max_failed_checks must be at most 1000')
        .default(ROLLOUT_DEFAULTS.max_failed_checks),
    })
    .strict();
}

/** Parses a `POST /admin/rollouts` body; throws INVALID_ROLLOUT (or INVALID_REQUEST for a non-object) naming the field. */
export function parseRolloutSpec(body: unknown, options: RolloutSpecOptions = {}): RolloutSpec {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new SwitchyardError('INVALID_REQUEST', 'the body must be a JSON object such as {"model": "linear", "version": 2}');
  }
  const parsed = schema(options.minIntervalMs ?? 1000).safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.');
    const message = issue.code === 'unrecognized_keys' ? `unknown setting ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    throw new SwitchyardError('INVALID_ROLLOUT', `invalid rollout: ${message}`, { details: { field: field || undefined, issues: parsed.error.issues.map((i) => i.message) } });
  }
  const v = parsed.data;
  return {
    model: v.model,
    target: v.version,
    step: v.step,
    maxWeight: v.max_weight,
    intervalMs: v.interval_ms,
    maxErrorRateIncrease: v.max_error_rate_increase,
    maxP99Ratio: v.max_p99_ratio,
    minRequests: v.min_requests,
    maxFailedChecks: v.max_failed_checks,
  };
}
