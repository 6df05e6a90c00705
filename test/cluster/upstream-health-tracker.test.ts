/**
 * UpstreamHealthTracker on a clock the test drives: outlier ejection after exactly N consecutive
 * failures, its growth, cap, decay and end, the rule that at most half of a candidate set is
 * ejected, and the circuit breaker (ratio only past the minimum count, one probe at a time while
 * half-open, closed by a good probe, reopened by a bad one), counted in the real GatewayMetrics.
 */
import { describe, expect, it } from 'vitest';
import { UpstreamHealthTracker, targetKind, type UpstreamHealthTrackerOptions } from '../../src/cluster/upstream-health-tracker.js';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';

/** A tracker on a hand-driven clock (epoch ms), with the defaults unless given. */
function tracker(options: UpstreamHealthTrackerOptions = {}) {
  const clock = { now: 1_700_000_000_000 };
  const health = new UpstreamHealthTracker({ now: () => clock.now, ...options });
  return { health, clock };
}

const failTimes = (health: UpstreamHealthTracker, id: string, n: number) => {
  for (let i = 0; i < n; i++) health.recordFailure(id, 'connect');
};
const usable = (health: UpstreamHealthTracker, ids: readonly string[]) => [...health.select(ids).usable];

/** Outlier ejection alone: a breaker that never opens within these tests. */
const NO_BREAKER = { breakerMinRequests: 1_000_000 };

describe('outlier ejection', () => {
  it('ejects a target after exactly OUTLIER_CONSECUTIVE_FAILURES failures in a row, for the base time', () => {
    const { health, clock } = tracker(NO_BREAKER);
    const ids = ['a', 'b', 'c'];
    failTimes(health, 'a', 4);
    expect(health.describe('a')).toMatchObject({ ejected: false, consecutiveFailures: 4, ejections: 0 });
    expect(usable(health, ids)).toEqual(['a', 'b', 'c']);

    health.recordFailure('a', 'status-5xx');
    expect(health.describe('a')).toEqual({ ejected: true, ejectedUntil: clock.now + 2000, ejections: 1, consecutiveFailures: 0, breaker: 'closed' });
    expect(health.select(ids)).toEqual({ usable: ['b', 'c'], excluded: [{ id: 'a', reason: 'ejected' }] });
  });

  it('counts failures in a row only: a success starts the run again', () => {
    const { health } = tracker({ ...NO_BREAKER, consecutiveFailures: 3 });
    failTimes(health, 'a', 2);
    health.recordSuccess('a');
    failTimes(health, 'a', 2);
    expect(health.describe('a').ejected).toBe(false);
    health.recordFailure('a', 'reset');
    expect(health.describe('a').ejected).toBe(true);
  });

  it('doubles the ejection time with each ejection up to OUTLIER_MAX_EJECTION_MS, and re-admits the target when it is over', () => {
    const { health, clock } = tracker(NO_BREAKER);
    const ids = ['a', 'b', 'c'];
    const lengths: number[] = [];
    for (let round = 0; round < 7; round++) {
      failTimes(health, 'a', 5);
      const view = health.describe('a');
      expect(view.ejections).toBe(round + 1);
      lengths.push(view.ejectedUntil! - clock.now);
      // One ms before the end it is still out; at the end it is back.
      clock.now = view.ejectedUntil! - 1;
      expect(usable(health, ids)).toEqual(['b', 'c']);
      clock.now += 1;
      expect(usable(health, ids)).toEqual(['a', 'b', 'c']);
      expect(health.describe('a')).toMatchObject({ ejected: false, ejections: round + 1 });
    }
    expect(lengths).toEqual([2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('does not eject again while ejected, and needs a new run of failures after re-admission', () => {
    const { health, clock } = tracker(NO_BREAKER);
    failTimes(health, 'a', 5);
    const until = health.describe('a').ejectedUntil!;
    failTimes(health, 'a', 12);
    expect(health.describe('a')).toMatchObject({ ejections: 1, ejectedUntil: until });
    clock.now = until;
    // The failures seen while ejected count toward nothing beyond the run they make.
    health.recordSuccess('a');
    failTimes(health, 'a', 4);
    expect(health.describe('a').ejected).toBe(false);
    health.recordFailure('a', 'timeout');
    expect(health.describe('a')).toMatchObject({ ejected: true, ejections: 2, ejectedUntil: clock.now + 4000 });
  });

  it('forgets one ejection per OUTLIER_EJECTION_DECAY_MS without an ejection, so the next is shorter again', () => {
    const { health, clock } = tracker({ ...NO_BREAKER, ejectionDecayMs: 10_000 });
    for (let i = 0; i < 3; i++) {
      failTimes(health, 'a', 5);
      clock.now = health.describe('a').ejectedUntil!;
    }
    expect(health.describe('a').ejections).toBe(3);
    clock.now += 9_999;
    expect(health.describe('a').ejections).toBe(3);
    clock.now += 1;
    expect(health.describe('a').ejections).toBe(2);
    clock.now += 10_000;
    expect(health.describe('a').ejections).toBe(1);
    // The next ejection is the second one again: 4 s, not 16 s.
    failTimes(health, 'a', 5);
    expect(health.describe('a')).toMatchObject({ ejections: 2, ejectedUntil: clock.now + 4000 });
    clock.now += 4000 + 100_000;
    expect(health.describe('a').ejections).toBe(0);
  });

  it('never ejects more than half of the candidates: the least recently ejected stay in rotation', () => {
    const { health, clock } = tracker(NO_BREAKER);
    failTimes(health, 'a', 5);
    clock.now += 10;
    failTimes(health, 'b', 5);
    clock.now += 10;
    failTimes(health, 'c', 5);
    expect(['a', 'b', 'c'].map((id) => health.describe(id).ejected)).toEqual([true, true, true]);

    // One candidate: never ejected. Two: one (the later, b). Three: one (c). Four: two (b, c).
    expect(health.select(['a'])).toEqual({ usable: ['a'], excluded: [] });
    expect(health.select(['a', 'b'])).toEqual({ usable: ['a'], excluded: [{ id: 'b', reason: 'ejected' }] });
    expect(health.select(['a', 'b', 'c'])).toEqual({ usable: ['a', 'b'], excluded: [{ id: 'c', reason: 'ejected' }] });
    expect(health.select(['d', 'c', 'b', 'a'])).toEqual({
      usable: ['d', 'a'],
      excluded: [
        { id: 'c', reason: 'ejected' },
        { id: 'b', reason: 'ejected' },
      ],
    });
    // Letting one back in for a request does not end its ejection.
    expect(health.describe('a').ejected).toBe(true);
  });

  it('forget() drops what it knew of a target', () => {
    const { health } = tracker(NO_BREAKER);
    failTimes(health, 'a', 5);
    expect(health.size).toBe(1);
    health.forget('a');
    expect(health.size).toBe(0);
    expect(health.describe('a')).toEqual({ ejected: false, ejections: 0, consecutiveFailures: 0, breaker: 'closed' });
    expect(usable(health, ['a', 'b'])).toEqual(['a', 'b']);
  });
});

/** The breaker alone: ejection that never happens within these tests. */
const NO_EJECTION = { consecutiveFailures: 1_000_000 };

describe('circuit breaker', () => {
  it('opens at BREAKER_ERROR_RATIO only once the window holds BREAKER_MIN_REQUESTS requests', () => {
    const { health } = tracker(NO_EJECTION);
    failTimes(health, 'a', 19);
    expect(health.describe('a').breaker).toBe('closed');
    expect(usable(health, ['a'])).toEqual(['a']);
    health.recordFailure('a', 'connect');
    expect(health.describe('a').breaker).toBe('open');
    // Not bound by the half rule: an open breaker removes even the only candidate.
    expect(health.select(['a'])).toEqual({ usable: [], excluded: [{ id: 'a', reason: 'circuit-open' }] });
  });

  it('stays closed below the ratio and opens when failures reach it', () => {
    const { health } = tracker(NO_EJECTION);
    for (let i = 0; i < 11; i++) health.recordSuccess('a');
    failTimes(health, 'a', 10);
    // 10 of 21 failed (48 %): closed.
    expect(health.describe('a').breaker).toBe('closed');
    health.recordFailure('a', 'bad-response');
    // 11 of 22 (50 %): open.
    expect(health.describe('a').breaker).toBe('open');
  });

  it('counts only the last BREAKER_WINDOW_MS', () => {
    const { health, clock } = tracker(NO_EJECTION);
    failTimes(health, 'a', 19);
    failTimes(health, 'b', 19);
    clock.now += 9_000;
    health.recordFailure('a', 'connect');
    expect(health.describe('a').breaker).toBe('open');
    clock.now += 3_000;
    health.recordFailure('b', 'connect');
    expect(health.describe('b').breaker).toBe('closed');
  });

  it('half-opens after BREAKER_OPEN_MS with exactly one probe at a time; a good probe closes it', () => {
    const { health, clock } = tracker(NO_EJECTION);
    failTimes(health, 'a', 20);
    clock.now += 4_999;
    expect(health.describe('a').breaker).toBe('open');
    expect(usable(health, ['a', 'b'])).toEqual(['b']);
    clock.now += 1;
    expect(health.describe('a').breaker).toBe('half-open');

    const handedOut = Array.from({ length: 10 }, () => health.select(['a', 'b']).usable.includes('a'));
    expect(handedOut.filter(Boolean)).toHaveLength(1);
    expect(handedOut[0]).toBe(true);
    expect(health.select(['a', 'b']).excluded).toEqual([{ id: 'a', reason: 'circuit-open' }]);

    health.recordSuccess('a');
    expect(health.describe('a').breaker).toBe('closed');
    expect(Array.from({ length: 5 }, () => usable(health, ['a']))).toEqual(Array.from({ length: 5 }, () => ['a']));
    // Closing started a fresh window: 19 failures more do not open it.
    failTimes(health, 'a', 19);
    expect(health.describe('a').breaker).toBe('closed');
  });

  it('reopens on a bad probe, for another BREAKER_OPEN_MS', () => {
    // A window shorter than the open time: the failures that opened it are gone, only the probe counts.
    const { health, clock } = tracker({ ...NO_EJECTION, breakerWindowMs: 2_000 });
    failTimes(health, 'a', 20);
    clock.now += 5_000;
    expect(usable(health, ['a'])).toEqual(['a']);
    health.recordFailure('a', 'status-5xx');
    expect(health.describe('a').breaker).toBe('open');
    clock.now += 4_999;
    expect(usable(health, ['a'])).toEqual([]);
    clock.now += 1;
    expect(usable(health, ['a'])).toEqual(['a']);
    expect(usable(health, ['a'])).toEqual([]);
  });

  it('hands the probe out again when the first one never reports back within BREAKER_OPEN_MS', () => {
    const { health, clock } = tracker(NO_EJECTION);
    failTimes(health, 'a', 20);
    clock.now += 5_000;
    expect(usable(health, ['a'])).toEqual(['a']);
    clock.now += 4_999;
    expect(usable(health, ['a'])).toEqual([]);
    clock.now += 1;
    expect(usable(health, ['a'])).toEqual(['a']);
    expect(health.describe('a').breaker).toBe('half-open');
  });

  it('names the target it handed the probe to, and hands out one probe per request: a second half-open target keeps its own', () => {
    const { health, clock } = tracker(NO_EJECTION);
    failTimes(health, 'a', 20);
    failTimes(health, 'b', 20);
    clock.now += 5_000;
    expect(health.select(['c'])).toEqual({ usable: ['c'], excluded: [] });
    // One request: a gets the probe (and is named), b is not asked, so its probe is not lost.
    expect(health.select(['a', 'b', 'c'])).toEqual({ usable: ['a', 'c'], excluded: [{ id: 'b', reason: 'circuit-open' }], probe: 'a' });
    // The next request: a's probe is out, b's is handed out now.
    expect(health.select(['a', 'b', 'c'])).toEqual({ usable: ['b', 'c'], excluded: [{ id: 'a', reason: 'circuit-open' }], probe: 'b' });
    expect(health.select(['a', 'b', 'c'])).toEqual({ usable: ['c'], excluded: [{ id: 'a', reason: 'circuit-open' }, { id: 'b', reason: 'circuit-open' }] });
  });

  it('an ejected target waiting out its ejection does not use up the half-open probe', () => {
    const { health, clock } = tracker({ consecutiveFailures: 5, maxEjectionMs: 60_000, baseEjectionMs: 60_000 });
    failTimes(health, 'a', 20);
    clock.now += 5_000;
    expect(health.describe('a')).toMatchObject({ ejected: true, breaker: 'half-open' });
    expect(health.select(['a', 'b']).excluded).toEqual([{ id: 'a', reason: 'ejected' }]);
    // Alone, the half rule lets it back in, and the probe is still there to hand out.
    expect(usable(health, ['a'])).toEqual(['a']);
    expect(usable(health, ['a'])).toEqual([]);
  });
});

describe('metrics', () => {
  it('counts ejections and breaker transitions by target kind, and the breakers open or half-open now', async () => {
    const metrics = new GatewayMetrics({ knownModel: () => true, processMetrics: false });
    const { health, clock } = tracker({ observer: metrics });
    const backend = 'backend:triton:http://127.0.0.1:9000';
    expect(targetKind(backend)).toBe('backend');
    expect(targetKind('node-7f3a')).toBe('node');

    // 20 failures in a row: one ejection (none again while ejected), and the breaker opens.
    failTimes(health, 'node-7f3a', 20);
    failTimes(health, backend, 5);
    const scrape = async () => parseExposition(await metrics.exposition());
    let samples = await scrape();
    expect(valueOf(samples, 'switchyard_upstream_ejections_total', { target_kind: 'node' })).toBe(1);
    expect(valueOf(samples, 'switchyard_upstream_ejections_total', { target_kind: 'backend' })).toBe(1);
    expect(valueOf(samples, 'switchyard_upstream_breaker_transitions_total', { target_kind: 'node', to: 'open' })).toBe(1);
    expect(valueOf(samples, 'switchyard_upstream_breakers', { target_kind: 'node', state: 'open' })).toBe(1);

    clock.now += 5_000;
    health.select(['node-7f3a']);
    health.recordSuccess('node-7f3a');
    samples = await scrape();
    expect(valueOf(samples, 'switchyard_upstream_breaker_transitions_total', { target_kind: 'node', to: 'half-open' })).toBe(1);
    expect(valueOf(samples, 'switchyard_upstream_breaker_transitions_total', { target_kind: 'node', to: 'closed' })).toBe(1);
    expect(valueOf(samples, 'switchyard_upstream_breakers', { target_kind: 'node', state: 'open' })).toBe(0);
    expect(valueOf(samples, 'switchyard_upstream_breakers', { target_kind: 'node', state: 'half-open' })).toBe(0);

    // A target that leaves with its breaker open stops counting as open.
    failTimes(health, backend, 15);
    expect(valueOf(await scrape(), 'switchyard_upstream_breakers', { target_kind: 'backend', state: 'open' })).toBe(1);
    health.forget(backend);
    expect(valueOf(await scrape(), 'switchyard_upstream_breakers', { target_kind: 'backend', state: 'open' })).toBe(0);
  });
});
