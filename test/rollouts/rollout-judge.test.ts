/**
 * The rules of one rollout check on histograms filled by hand: inconclusive below min_requests,
 * error rate in percentage points over the primary's, p99 as a ratio of the primary's, and the
 * reason in words; and the histogram's window and percentile arithmetic.
 */
import { expect, it } from 'vitest';
import { judgeWindow } from '../../src/rollouts/rollout-judge.js';
import { LatencyHistogram, latencyQuantileMs, latencyWindow } from '../../src/scheduling/latency-histogram.js';

const SPEC = { minRequests: 100, maxErrorRateIncrease: 1, maxP99Ratio: 1.2 };

function histogram(requests: number, failures: number, ms: (i: number) => number): LatencyHistogram {
  const h = new LatencyHistogram();
  for (let i = 0; i < requests; i++) h.record(ms(i), i >= failures);
  return h;
}

it('judges only windows with min_requests canary requests', () => {
  const verdict = judgeWindow(SPEC, histogram(99, 99, () => 1).snapshot(), histogram(1000, 0, () => 1).snapshot());
  expect(verdict).toMatchObject({ outcome: 'inconclusive', reason: '99 canary requests in the window (< min_requests 100)' });
});

it('fails a canary whose error rate is more than the allowed points above the primary', () => {
  const primary = histogram(1000, 1, () => 1).snapshot(); // 0.1 %
  expect(judgeWindow(SPEC, histogram(100, 1, () => 1).snapshot(), primary).outcome).toBe('pass'); // 1.0 %: within +1 point
  const failing = judgeWindow(SPEC, histogram(100, 12, () => 1).snapshot(), primary);
  expect(failing).toMatchObject({ outcome: 'fail', reason: 'error rate 12.0% vs primary 0.1% (> +1 point)' });
});

it('fails a canary whose p99 is above the allowed ratio of the primary', () => {
  const primary = histogram(1000, 0, () => 10).snapshot();
  expect(judgeWindow(SPEC, histogram(200, 0, () => 11).snapshot(), primary).outcome).toBe('pass');
  const slow = judgeWindow(SPEC, histogram(200, 0, (i) => (i < 190 ? 10 : 50)).snapshot(), primary);
  expect(slow.outcome).toBe('fail');
  expect(slow.outcome === 'fail' && slow.reason).toMatch(/^p99 \d+\.\d ms vs primary \d+\.\d ms \(> 1\.2x\)$/);
});

it('reads a window as the difference of two snapshots, percentiles within a bucket (10 %)', () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 50; i++) h.record(100, true);
  const before = h.snapshot();
  for (let i = 1; i <= 100; i++) h.record(i, i % 10 !== 0);
  const window = latencyWindow(before, h.snapshot());
  expect([window.successes, window.failures]).toEqual([90, 10]);
  const p99 = latencyQuantileMs(window, 0.99)!;
  expect(p99).toBeGreaterThanOrEqual(99);
  expect(p99).toBeLessThan(99 * 1.1);
  expect(latencyQuantileMs(latencyWindow(before, before), 0.99)).toBeUndefined();
});
