/**
 * Power of two random choices on load, with an injected random source: of the two drawn, the
 * less loaded wins; local work counts like remote; weights divide the score; what health
 * tracking excludes is never a candidate. The collaborators are the second real implementations
 * of test/support/fixed-cluster.ts.
 */
import { describe, expect, it } from 'vitest';
import { CandidatePicker, type CandidatePickerOptions } from '../../src/cluster/candidate-picker.js';
import { UpstreamHealthTracker } from '../../src/cluster/upstream-health-tracker.js';
import type { BackendTargets, UpstreamTarget } from '../../src/cluster/cluster-types.js';
import { ConsecutiveFailureHealth, FixedClusterMembers } from '../support/fixed-cluster.js';

/** Replays the given draws (then 0s). */
function draws(...values: number[]): () => number {
  return () => values.shift() ?? 0;
}

function picker(options: Partial<CandidatePickerOptions> & Pick<CandidatePickerOptions, 'members'>, inFlight: Record<string, number> = {}, local = { ready: false, load: 0 }) {
  return new CandidatePicker({
    localId: 'me',
    localReady: () => local.ready,
    localLoad: () => local.load,
    remoteInFlight: (id) => inFlight[id] ?? 0,
    ...options,
  });
}

const members = () =>
  new FixedClusterMembers([
    { id: 'a', url: 'http://127.0.0.1:1', models: { m: [1] } },
    { id: 'b', url: 'http://127.0.0.1:2', models: { m: [1] }, load: 5 },
    { id: 'c', url: 'http://127.0.0.1:3', models: { m: [1, 2] } },
  ]);

describe('CandidatePicker', () => {
  it('lists this process (when READY) and every node that has the version', () => {
    const set = picker({ members: members() }, {}, { ready: true, load: 0 }).candidates('m', 1);
    expect(set.usable.map((c) => c.id)).toEqual(['me', 'a', 'b', 'c']);
    expect(picker({ members: members() }).candidates('m', 2).usable.map((c) => c.id)).toEqual(['c']);
    expect(picker({ members: members() }).candidates('m', 3).usable).toEqual([]);
  });

  it('of the two drawn the less loaded wins: own in-flight plus the reported load', () => {
    // Draws: first index 0 (a), second among the rest index 0 -> b.
    const p = picker({ members: members(), random: draws(0, 0) }, { a: 6 });
    const set = p.candidates('m', 1);
    // a: 6 in flight from here; b: reports 5 -> b is less loaded.
    expect(p.pick('m', 1, set.usable)!.id).toBe('b');
    const q = picker({ members: members(), random: draws(0, 0) }, { a: 4 });
    expect(q.pick('m', 1, q.candidates('m', 1).usable)!.id).toBe('a');
  });

  it('never draws the same candidate twice, and leaves out what is excluded', () => {
    const p = picker({ members: members(), random: draws(0.99, 0.99) });
    const usable = p.candidates('m', 1).usable;
    // First: index 2 (c); second among the other two: index 1 (b); c is less loaded.
    expect(p.pick('m', 1, usable)!.id).toBe('c');
    expect(p.pick('m', 1, usable, new Set(['a', 'b']))!.id).toBe('c');
    expect(p.pick('m', 1, usable, new Set(['a', 'b', 'c']))).toBeUndefined();
  });

  it('counts local work the same way as remote', () => {
    const busy = picker({ members: members(), random: draws(0, 0) }, {}, { ready: true, load: 3 });
    // me (3 + 1) against a (0 + 1): a.
    expect(busy.pick('m', 1, busy.candidates('m', 1).usable)!.id).toBe('a');
    const idle = picker({ members: members(), random: draws(0, 0) }, { a: 2 }, { ready: true, load: 0 });
    expect(idle.pick('m', 1, idle.candidates('m', 1).usable)!.id).toBe('me');
  });

  it('divides a weighted backend score by its weight', () => {
    const heavy: UpstreamTarget = { id: 'backend:triton:http://h', kind: 'backend', baseUrl: 'http://h', reportedLoad: 0, weight: 4 };
    const light: UpstreamTarget = { id: 'backend:triton:http://l', kind: 'backend', baseUrl: 'http://l', reportedLoad: 0, weight: 1 };
    const backends: BackendTargets = { targetsFor: () => [light, heavy], versionsOf: () => [1], describe: () => [] };
    const inFlight = { [heavy.id]: 3, [light.id]: 0 };
    const p = picker({ members: undefined, backends, random: draws(0, 0) }, inFlight);
    // light: (0 + 1) / 1 = 1; heavy: (3 + 1) / 4 = 1 -> a tie keeps the first draw (light).
    expect(p.pick('m', 1, p.candidates('m', 1).usable)!.id).toBe(light.id);
    inFlight[heavy.id] = 2; // (2 + 1) / 4 < 1
    expect(p.pick('m', 1, p.candidates('m', 1).usable)!.id).toBe(heavy.id);
  });

  it('asks health tracking once per request and drops what it excludes', () => {
    const health = new ConsecutiveFailureHealth(1);
    health.recordFailure('a', 'connect');
    const set = picker({ members: members(), health }).candidates('m', 1);
    expect(set.usable.map((c) => c.id)).toEqual(['b', 'c']);
    expect(set.excluded).toEqual([{ id: 'a', reason: 'ejected' }]);
    expect(set.remoteCount).toBe(3);
  });

  it('sends the request that carries a half-open probe to the probed target, whatever its load', () => {
    let now = 1_700_000_000_000;
    const health = new UpstreamHealthTracker({ now: () => now, consecutiveFailures: 1_000 });
    for (let i = 0; i < 20; i++) health.recordFailure('a', 'connect');
    now += 5_000; // BREAKER_OPEN_MS: half-open
    // Draws that would pick the idle local process over a (busy: 9 in flight from here).
    const p = picker({ members: members(), health, random: draws(0, 0) }, { a: 9 }, { ready: true, load: 0 });
    const set = p.candidates('m', 1);
    expect(set.probe?.id).toBe('a');
    expect(p.pick('m', 1, set.usable)!.id).toBe('me');
    expect(p.first('m', 1, set)!.id).toBe('a');
    // Its probe out, the next request is picked on load again.
    const next = p.candidates('m', 1);
    expect(next.probe).toBeUndefined();
    expect(next.usable.map((c) => c.id)).toEqual(['me', 'b', 'c']);
    expect(p.first('m', 1, next)!.id).toBe('me');
  });
});
