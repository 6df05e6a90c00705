/**
 * SlidingRetryBudget on a clock the test drives: retries up to RETRY_BUDGET_RATIO of the first
 * attempts and no more, the per-second floor for a quiet gateway, the window sliding past old
 * requests and retries, and each decision counted in the real GatewayMetrics.
 */
import { describe, expect, it } from 'vitest';
import { SlidingRetryBudget, type RetryBudgetOptions } from '../../src/cluster/retry-budget.js';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';

function budget(options: RetryBudgetOptions = {}) {
  const clock = { now: 1_700_000_000_000 };
  return { retries: new SlidingRetryBudget({ now: () => clock.now, ...options }), clock };
}

/** Asks for `n` retries; how many were allowed. */
const acquire = (retries: SlidingRetryBudget, n: number) => Array.from({ length: n }, () => retries.tryAcquireRetry()).filter(Boolean).length;
const requests = (retries: SlidingRetryBudget, n: number) => {
  for (let i = 0; i < n; i++) retries.recordRequest();
};

describe('the retry budget', () => {
  it('allows RETRY_BUDGET_RATIO retries per first attempt and refuses beyond', () => {
    const { retries } = budget({ minPerSecond: 0 });
    expect(retries.tryAcquireRetry()).toBe(false);
    requests(retries, 100);
    expect(acquire(retries, 10)).toBe(10);
    expect(retries.tryAcquireRetry()).toBe(false);
    requests(retries, 9);
    expect(retries.tryAcquireRetry()).toBe(false);
    requests(retries, 1);
    expect(acquire(retries, 5)).toBe(1);
  });

  it('with the defaults: 10 % of the requests plus 3 per second of the 10 s window', () => {
    const { retries } = budget();
    requests(retries, 1000);
    expect(acquire(retries, 200)).toBe(100 + 30);
  });

  it('keeps a floor of RETRY_BUDGET_MIN_PER_SECOND retries for a quiet gateway', () => {
    const { retries } = budget({ ratio: 0, minPerSecond: 3, windowMs: 10_000 });
    expect(acquire(retries, 40)).toBe(30);
    requests(retries, 1000);
    expect(retries.tryAcquireRetry()).toBe(false);
  });

  it('forgets requests and retries older than the window', () => {
    const { retries, clock } = budget({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000 });
    // 10 requests allow 5 retries; 2 are used.
    requests(retries, 10);
    expect(acquire(retries, 2)).toBe(2);
    clock.now += 9_000;
    // Still in the window. With 2 more requests (6 allowed, 2 used), one more retry.
    requests(retries, 2);
    expect(acquire(retries, 1)).toBe(1);
    clock.now += 3_000;
    // The first 10 requests left the window with their unused allowance: 2 requests and 1 retry remain.
    expect(retries.tryAcquireRetry()).toBe(false);
    requests(retries, 2);
    expect(acquire(retries, 5)).toBe(1);
  });

  it('counts allowed and refused retries in switchyard_upstream_retries_total', async () => {
    const metrics = new GatewayMetrics({ knownModel: () => true, processMetrics: false });
    const { retries } = budget({ ratio: 0.1, minPerSecond: 0, observer: metrics });
    requests(retries, 30);
    expect(acquire(retries, 7)).toBe(3);
    const samples = parseExposition(await metrics.exposition());
    expect(valueOf(samples, 'switchyard_upstream_retries_total', { outcome: 'allowed' })).toBe(3);
    expect(valueOf(samples, 'switchyard_upstream_retries_total', { outcome: 'refused' })).toBe(4);
  });

  it('refuses a negative ratio or floor', () => {
    expect(() => new SlidingRetryBudget({ ratio: -0.1 })).toThrow(RangeError);
    expect(() => new SlidingRetryBudget({ minPerSecond: -1 })).toThrow(RangeError);
  });
});
