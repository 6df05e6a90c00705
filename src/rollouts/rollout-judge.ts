/**
 * One rollout check: canary against primary over the same window of live counters. Pure, so the
 * rules (inconclusive below min_requests, error rate in percentage points, p99 as a ratio) are
 * tested without timers, and the reason a check failed is written in words an operator reads.
 */
import { latencyQuantileMs, type LatencySnapshot } from '../scheduling/latency-histogram.js';
import type { RolloutSpec } from './rollout-spec.js';

export interface WindowFigures {
  readonly requests: number;
  /** Percent, 0..100. */
  readonly errorRate: number;
  /** ms; undefined without requests. */
  readonly p99Ms: number | undefined;
}

export type RolloutVerdict =
  | { readonly outcome: 'pass'; readonly canary: WindowFigures; readonly primary: WindowFigures }
  | { readonly outcome: 'fail'; readonly reason: string; readonly canary: WindowFigures; readonly primary: WindowFigures }
  | { readonly outcome: 'inconclusive'; readonly reason: string; readonly canary: WindowFigures; readonly primary: WindowFigures };

export function windowFigures(window: LatencySnapshot): WindowFigures {
  const requests = window.successes + window.failures;
  return { requests, errorRate: requests === 0 ? 0 : (100 * window.failures) / requests, p99Ms: latencyQuantileMs(window, 0.99) };
}

const pct = (rate: number) => `${rate.toFixed(1)}%`;
const ms = (value: number | undefined) => (value === undefined ? 'n/a' : `${value.toFixed(1)} ms`);

export function judgeWindow(spec: Pick<RolloutSpec, 'minRequests' | 'maxErrorRateIncrease' | 'maxP99Ratio'>, canaryWindow: LatencySnapshot, primaryWindow: LatencySnapshot): RolloutVerdict {
  const canary = windowFigures(canaryWindow);
  const primary = windowFigures(primaryWindow);
  if (canary.requests < spec.minRequests) {
    return { outcome: 'inconclusive', reason: `${canary.requests} canary requests in the window (< min_requests ${spec.minRequests})`, canary, primary };
  }
  if (canary.errorRate > primary.errorRate + spec.maxErrorRateIncrease) {
    return {
      outcome: 'fail',
      reason: `error rate ${pct(canary.errorRate)} vs primary ${pct(primary.errorRate)} (> +${spec.maxErrorRateIncrease} point${spec.maxErrorRateIncrease === 1 ? '' : 's'})`,
      canary,
      primary,
    };
  }
  // Without primary requests in the window there is nothing to compare latency with: judged on errors only.
  if (canary.p99Ms !== undefined && primary.p99Ms !== undefined && primary.requests > 0 && canary.p99Ms > primary.p99Ms * spec.maxP99Ratio) {
    return { outcome: 'fail', reason: `p99 ${ms(canary.p99Ms)} vs primary ${ms(primary.p99Ms)} (> ${spec.maxP99Ratio}x)`, canary, primary };
  }
  return { outcome: 'pass', canary, primary };
}
