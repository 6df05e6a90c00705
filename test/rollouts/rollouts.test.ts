/**
 * Rollouts end to end: real gateways on real HTTP, real sessions, real Redis under a random
 * prefix, short intervals (ROLLOUT_MIN_INTERVAL_MS lowered). A good version promotes after the
 * expected number of passing checks; a version that fails at run time rolls back and says why; a
 * restarted gateway continues the same rollout; two replicas never both drive it; an operator's
 * edit stops it; an abort rolls it back.
 */
import { expect, it } from 'vitest';
import { eventually, sleep, startTestGateway, type TestGateway } from '../support/gateway.js';
import { linearVersions, lookupModel, MLP_SIZES, mlpModel, mlpRows, type ModelSet } from '../support/models.js';
import type { Logger } from 'pino';
import { captureLog } from '../support/log-capture.js';
import { randomPrefix } from '../support/redis.js';

const TOKEN = 'rollout-test-token';
const ENV = { ADMIN_TOKEN: TOKEN, ROLLOUT_MIN_INTERVAL_MS: '100' };

interface Row { event: string; weight: number; reason?: string; driver: string }
interface State { model: string; status: string; weight: number; primary: number; target: number; reason?: string; applied: boolean; history: Row[] }

function start(models: ModelSet, prefix: string, nodeId: string, logger?: Logger): Promise<TestGateway> {
  return startTestGateway({ models, env: { ...ENV, NODE_ID: nodeId }, redis: { prefix }, ...(logger ? { logger } : {}) });
}

function admin(t: TestGateway, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(t.url + path, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function rollout(t: TestGateway, model: string): Promise<State> {
  return (await (await admin(t, 'GET', `/admin/rollouts/${model}`)).json()) as State;
}

/** Steady load from `concurrency` clients on each gateway of `targets()` (asked again per request), until stopped. */
function load(targets: () => TestGateway[], path: string, body: unknown, concurrency = 8): { stop: () => Promise<void>; statuses: Map<number, number> } {
  let running = true;
  const statuses = new Map<number, number>();
  const clients = Array.from({ length: concurrency }, async (_, i) => {
    let n = i;
    while (running) {
      const gateways = targets();
      const t = gateways[n++ % gateways.length];
      if (!t) {
        await sleep(20);
        continue;
      }
      try {
        const response = await fetch(t.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      } catch {
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
      }
    }
  });
  return {
    statuses,
    stop: async () => {
      running = false;
      await Promise.all(clients);
    },
  };
}

const GOOD = { linear: linearVersions(1, 2) };
const LINEAR_BODY = { inputs: { input: [[1, 2, 3, 4]] } };
/** Checks that tolerate a shared machine: latency noise may fail a check now and then, never five times. */
const QUICK = { interval_ms: 500, min_requests: 5, max_failed_checks: 5, max_p99_ratio: 5 };

function steps(state: State): { advanced: number[]; passing: number; drivers: Set<string> } {
  const advanced = state.history.filter((row) => row.event === 'advanced').map((row) => row.weight);
  const passing = advanced.length + state.history.filter((row) => row.event === 'promoted').length;
  const drivers = new Set(state.history.filter((row) => row.event !== 'started').map((row) => row.driver));
  return { advanced, passing, drivers };
}

it('promotes a good version under steady load after one passing check per step', async () => {
  const prefix = randomPrefix();
  const log = captureLog({ keep: (line) => String(line.event).startsWith('rollout-') });
  const a = await start(GOOD, prefix, 'node-a', log.logger);
  await admin(a, 'PUT', '/admin/routes/linear', { default: '1' });
  const traffic = load(() => [a], '/models/linear/predict', LINEAR_BODY);
  try {
    const started = await admin(a, 'POST', '/admin/rollouts', { model: 'linear', version: 2, step: 20, max_weight: 60, ...QUICK });
    expect(started.status).toBe(201);
    const first = (await started.json()) as State;
    expect(first).toMatchObject({ status: 'running', primary: 1, target: 2, weight: 20, applied: true });
    expect(await (await admin(a, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '1:80,2:20' });

    await eventually(async () => (await rollout(a, 'linear')).status !== 'running', 60_000, 'the rollout ends');
    const done = await rollout(a, 'linear');
    expect(done.status, JSON.stringify(done.history)).toBe('promoted');
    // 20 -> 40 -> 60 (max), then a passing check at 60 promotes: three passing checks.
    const { advanced, passing } = steps(done);
    expect(advanced).toEqual([40, 60]);
    expect(passing).toBe(3);
    expect(done.history[0]!.event).toBe('started');
    expect(done.history.at(-1)!.event).toBe('promoted');
    expect(await (await admin(a, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '2' });
    const metrics = await (await a.get('/metrics')).text();
    expect(metrics).toMatch(/switchyard_rollout_steps_total\{model="linear",outcome="advanced"\} 2/);
    expect(metrics).toMatch(/switchyard_rollout_steps_total\{model="linear",outcome="promoted"\} 1/);
    expect(metrics).toMatch(/switchyard_rollout_canary_weight\{model="linear"\} 0/);
    expect(metrics).toMatch(/switchyard_rollout_steps_total\{model="linear",outcome="started"\} 1/);
    // Every step is a log event too, in order, with the weight it left.
    const logged = log.lines.filter((line) => line.event !== 'rollout-inconclusive' && line.event !== 'rollout-failed').map((line) => [line.event, line.weight]);
    expect(logged).toEqual([['rollout-started', 20], ['rollout-advanced', 40], ['rollout-advanced', 60], ['rollout-promoted', 100]]);
  } finally {
    await traffic.stop();
  }
  expect(traffic.statuses.get(200)).toBeGreaterThan(0);
  expect([...traffic.statuses.keys()]).toEqual([200]);
}, 150_000);

it('rolls back a version that fails at run time, and records why', async () => {
  const prefix = randomPrefix();
  // Version 2's table is too short for index 10: onnxruntime refuses every run of it.
  const a = await start({ lookup: { 1: lookupModel(16), 2: lookupModel(4) } }, prefix, 'node-a');
  await admin(a, 'PUT', '/admin/routes/lookup', { default: '1' });
  const traffic = load(() => [a], '/models/lookup/predict', { inputs: { index: [[10]] } });
  try {
    const started = await admin(a, 'POST', '/admin/rollouts', { model: 'lookup', version: 2, ...QUICK, max_failed_checks: 3, min_requests: 10 });
    expect(started.status).toBe(201);
    await eventually(async () => (await rollout(a, 'lookup')).status !== 'running', 60_000, 'the rollout ends');
  } finally {
    await traffic.stop();
  }
  const done = await rollout(a, 'lookup');
  expect(done.status).toBe('rolled_back');
  expect(done.reason).toMatch(/^error rate 100\.0% vs primary 0\.0% \(> \+1 point\); 3 failed checks/);
  expect(done.history.filter((row) => row.event === 'failed')).toHaveLength(2);
  expect(done.history.filter((row) => row.event === 'advanced')).toHaveLength(0);
  expect(done.history.at(-1)).toMatchObject({ event: 'rolled_back', weight: 0 });
  expect(await (await admin(a, 'GET', '/admin/routes/lookup')).json()).toEqual({ default: '1' });
  expect(traffic.statuses.get(500)).toBeGreaterThan(0);
}, 150_000);

it('rolls back a version that is much slower than the primary, and records why', async () => {
  const prefix = randomPrefix();
  // Same inputs and outputs; version 2 does about 5 M multiply-adds a row, version 1 about 4 k.
  const a = await start({ mlp: { 1: mlpModel([256, 8, 256]), 2: mlpModel(MLP_SIZES.heavy) } }, prefix, 'node-a');
  await admin(a, 'PUT', '/admin/routes/mlp', { default: '1' });
  const traffic = load(() => [a], '/models/mlp/predict', { inputs: { input: mlpRows(4) } });
  try {
    const started = await admin(a, 'POST', '/admin/rollouts', { model: 'mlp', version: 2, step: 30, interval_ms: 500, min_requests: 5, max_failed_checks: 3 });
    expect(started.status).toBe(201);
    await eventually(async () => (await rollout(a, 'mlp')).status !== 'running', 90_000, 'the rollout ends');
  } finally {
    await traffic.stop();
  }
  const done = await rollout(a, 'mlp');
  expect(done.status, JSON.stringify(done.history)).toBe('rolled_back');
  expect(done.reason).toMatch(/^p99 \d+\.\d ms vs primary \d+\.\d ms \(> 1\.2x\); 3 failed checks/);
  expect(await (await admin(a, 'GET', '/admin/routes/mlp')).json()).toEqual({ default: '1' });
  expect([...traffic.statuses.keys()]).toEqual([200]);
}, 150_000);

it('continues the same rollout on another gateway when the first one stops', async () => {
  const prefix = randomPrefix();
  const a = await start(GOOD, prefix, 'node-a');
  await admin(a, 'PUT', '/admin/routes/linear', { default: '1' });
  // No traffic until both gateways are up: node-a holds the lock but can not step yet.
  let targets: TestGateway[] = [];
  const traffic = load(() => targets, '/models/linear/predict', LINEAR_BODY);
  let b: TestGateway | undefined;
  try {
    expect((await admin(a, 'POST', '/admin/rollouts', { model: 'linear', version: 2, step: 20, max_weight: 100, ...QUICK })).status).toBe(201);
    b = await start(GOOD, prefix, 'node-b');
    targets = [a];
    await eventually(async () => (await rollout(a, 'linear')).weight >= 40, 30_000, async () => `a first step on node-a: ${JSON.stringify(await rollout(a, 'linear'))}`);
    targets = [b];
    await a.close();
    await eventually(async () => (await rollout(b!, 'linear')).status !== 'running', 60_000, 'node-b finishes the rollout');
  } finally {
    await traffic.stop();
  }
  const done = await rollout(b!, 'linear');
  expect(done.status, JSON.stringify(done.history)).toBe('promoted');
  const { advanced, passing, drivers } = steps(done);
  // Every step once, in order, across the two drivers.
  expect(advanced).toEqual([40, 60, 80, 100]);
  expect(passing).toBe(5);
  expect(drivers).toEqual(new Set(['node-a', 'node-b']));
  expect(done.history.at(-1)).toMatchObject({ event: 'promoted', driver: 'node-b' });
  expect(await (await admin(b!, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '2' });
}, 150_000);

it('lets exactly one of two running replicas drive a rollout', async () => {
  const prefix = randomPrefix();
  const a = await start(GOOD, prefix, 'node-a');
  const b = await start(GOOD, prefix, 'node-b');
  await admin(a, 'PUT', '/admin/routes/linear', { default: '1' });
  const traffic = load(() => [a, b], '/models/linear/predict', LINEAR_BODY);
  try {
    expect((await admin(b, 'POST', '/admin/rollouts', { model: 'linear', version: 2, step: 20, max_weight: 60, ...QUICK })).status).toBe(201);
    await eventually(async () => (await rollout(a, 'linear')).status !== 'running', 60_000, 'the rollout ends');
  } finally {
    await traffic.stop();
  }
  const done = await rollout(a, 'linear');
  expect(done.status, JSON.stringify(done.history)).toBe('promoted');
  const { advanced, passing, drivers } = steps(done);
  expect(advanced).toEqual([40, 60]);
  expect(passing).toBe(3);
  expect(drivers.size, JSON.stringify(done.history)).toBe(1);
}, 150_000);

it('stops, and leaves the route alone, when an operator edits default during a rollout', async () => {
  const prefix = randomPrefix();
  const a = await start(GOOD, prefix, 'node-a');
  await admin(a, 'PUT', '/admin/routes/linear', { default: '1' });
  expect((await admin(a, 'POST', '/admin/rollouts', { model: 'linear', version: 2, interval_ms: 60_000 })).status).toBe(201);
  expect(await (await admin(a, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '1:90,2:10' });
  expect((await admin(a, 'PUT', '/admin/routes/linear', { default: '1' })).status).toBe(200);
  await eventually(async () => (await rollout(a, 'linear')).status === 'stopped', 10_000, 'the rollout stops');
  const done = await rollout(a, 'linear');
  expect(done.reason).toContain('the default route was changed outside the rollout to "1"');
  expect(done.history.at(-1)).toMatchObject({ event: 'stopped' });
  // The driver never writes over the operator.
  await sleep(300);
  expect(await (await admin(a, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '1' });
});

it('aborts a running rollout: the route goes back to what it was', async () => {
  const prefix = randomPrefix();
  const a = await start(GOOD, prefix, 'node-a');
  await admin(a, 'PUT', '/admin/routes/linear', { default: '1', stable: '1' });
  await admin(a, 'PUT', '/admin/routes/linear', { default: 'stable', stable: '1' });
  expect((await admin(a, 'POST', '/admin/rollouts', { model: 'linear', version: 2, interval_ms: 60_000 })).status).toBe(201);
  expect(await (await admin(a, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '1:90,2:10', stable: '1' });
  const aborted = await admin(a, 'POST', '/admin/rollouts/linear/abort');
  expect(aborted.status).toBe(200);
  expect(await aborted.json()).toMatchObject({ status: 'aborted', applied: true, reason: 'aborted by an operator' });
  expect(await (await admin(a, 'GET', '/admin/routes/linear')).json()).toEqual({ default: 'stable', stable: '1' });
  const listed = (await (await admin(a, 'GET', '/admin/rollouts')).json()) as { rollouts: State[] };
  expect(listed.rollouts.map((r) => [r.model, r.status])).toEqual([['linear', 'aborted']]);
});
