/**
 * The scale-out health settings refuse values that make no sense, naming the setting, so a typo
 * stops start-up instead of silently disabling ejection, breakers or retries.
 */
import { expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

it.each([
  [{ BREAKER_ERROR_RATIO: '0' }, 'BREAKER_ERROR_RATIO'],
  [{ BREAKER_ERROR_RATIO: '1.5' }, 'BREAKER_ERROR_RATIO'],
  [{ OUTLIER_CONSECUTIVE_FAILURES: '0' }, 'OUTLIER_CONSECUTIVE_FAILURES'],
  [{ BREAKER_MIN_REQUESTS: '0' }, 'BREAKER_MIN_REQUESTS'],
  [{ RETRY_BUDGET_RATIO: '-0.1' }, 'RETRY_BUDGET_RATIO'],
  [{ RETRY_BUDGET_MIN_PER_SECOND: 'lots' }, 'RETRY_BUDGET_MIN_PER_SECOND'],
  [{ OUTLIER_BASE_EJECTION_MS: '60000' }, 'OUTLIER_BASE_EJECTION_MS must not exceed OUTLIER_MAX_EJECTION_MS'],
])('refuses %o', (env, named) => {
  expect(() => loadConfig(env)).toThrow(ConfigError);
  expect(() => loadConfig(env)).toThrow(named);
});

it('takes a ratio of 1 and a budget of only the floor', () => {
  const config = loadConfig({ BREAKER_ERROR_RATIO: '1', RETRY_BUDGET_RATIO: '0' });
  expect(config.upstreamHealth.breakerErrorRatio).toBe(1);
  expect(config.retryBudget).toEqual({ ratio: 0, minPerSecond: 3, windowMs: 10_000 });
});
