/**
 * The cluster benchmark's arithmetic: when a killed node's traffic stopped (from readings of the
 * front's failed-attempt count), which node an x-served-by names, exact percentiles, and the sum of
 * a counter's series in Prometheus text.
 */
import { describe, expect, it } from 'vitest';
import { counterSum, nodeNameOf, percentileMs, trafficStopMs } from '../../bench/scenarios/cluster.js';

describe('trafficStopMs', () => {
  // A reading asked for 10 ms before it was answered.
  const at = (atMs: number, failures: number) => ({ sentAtMs: atMs - 10, atMs, failures });

  it('lies between the last reading below the final count (when asked) and the first at it (when answered)', () => {
    expect(trafficStopMs([at(0, 0), at(50, 0), at(100, 3), at(150, 7), at(200, 7), at(250, 7)], 60)).toEqual({ atLeastMs: 30, atMostMs: 90 });
  });

  it('counts failures from before the kill as not the dead node (only the count at the kill is the base)', () => {
    expect(trafficStopMs([at(0, 2), at(50, 2), at(100, 2), at(150, 2)], 60)).toEqual({ atLeastMs: 0, atMostMs: 0 });
    expect(trafficStopMs([at(0, 2), at(50, 2), at(100, 5), at(150, 5)], 60)).toEqual({ atLeastMs: 0, atMostMs: 40 });
  });

  it('has no upper bound while the count still rose at the end (traffic had not stopped)', () => {
    expect(trafficStopMs([at(0, 0), at(100, 3), at(200, 9)], 50).atMostMs).toBe(Infinity);
  });

  it('takes a failure seen in the first reading after the kill', () => {
    expect(trafficStopMs([at(0, 0), at(1000, 4), at(1050, 4)], 990)).toEqual({ atLeastMs: 0, atMostMs: 10 });
  });

  it('needs readings', () => {
    expect(() => trafficStopMs([], 0)).toThrow(RangeError);
  });
});

describe('nodeNameOf', () => {
  it('is the node id, or the backend name of a static backend target id', () => {
    expect(nodeNameOf('node-a')).toBe('node-a');
    expect(nodeNameOf('backend:node-b:http://127.0.0.1:8081')).toBe('node-b');
    expect(nodeNameOf('backend:solo')).toBe('solo');
    expect(nodeNameOf(undefined)).toBeUndefined();
  });
});

describe('percentileMs', () => {
  it('is the value at the quantile, unrounded, of unsorted values', () => {
    expect(percentileMs([0.9, 0.2, 0.5, 0.7], 0.5)).toBe(0.7);
    expect(percentileMs([0.21, 0.23], 0)).toBe(0.21);
    expect(percentileMs([1, 2, 3], 0.99)).toBe(3);
    expect(percentileMs([], 0.5)).toBe(0);
  });
});

describe('counterSum', () => {
  const text = [
    '# HELP switchyard_forwarded_requests_total Inference attempts forwarded',
    '# TYPE switchyard_forwarded_requests_total counter',
    'switchyard_forwarded_requests_total{target_kind="backend",outcome="success"} 900',
    'switchyard_forwarded_requests_total{target_kind="backend",outcome="connect"} 4',
    'switchyard_forwarded_requests_total{target_kind="backend",outcome="reset"} 3',
    'switchyard_forwarded_requests_total_other{outcome="connect"} 100',
    'switchyard_upstream_ejections_total 2',
  ].join('\n');

  it('sums the series of one metric whose labels pass the filter', () => {
    expect(counterSum(text, 'switchyard_forwarded_requests_total')).toBe(907);
    expect(counterSum(text, 'switchyard_forwarded_requests_total', (l) => l.outcome !== 'success')).toBe(7);
    expect(counterSum(text, 'switchyard_upstream_ejections_total')).toBe(2);
    expect(counterSum(text, 'switchyard_missing_total')).toBe(0);
  });
});
