/**
 * Model files as operators really write them: slowly, broken, deleted while in use. Checked over
 * HTTP against a live gateway watching a temp repository.
 */
import { appendFile, mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { eventually, LINEAR_INPUT, sleep, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { linearAnswer, linearModel, mlpAnswer, mlpModel, mlpRows, MLP_SIZES } from '../support/models.js';

interface ModelView {
  config: Record<string, unknown>;
  versions: Array<{ version: number; state: string; reason?: string }>;
}

async function modelView(gateway: TestGateway, name: string): Promise<ModelView> {
  return (await (await gateway.get(`/models/${name}`)).json()) as ModelView;
}

async function versionState(gateway: TestGateway, name: string, version: number) {
  const response = await gateway.get(`/models/${name}`);
  if (response.status === 404) return undefined;
  const body = (await response.json()) as ModelView;
  return body.versions.find((v) => v.version === version);
}

/** Each value within 1e-4 of the reference, relative (onnxruntime sums in float32, the reference in float64). */
function expectClose(actual: readonly number[], expected: readonly number[], what: string): void {
  expect(actual, what).toHaveLength(expected.length);
  const off = actual.flatMap((value, i) => (Math.abs(value - expected[i]!) <= 1e-4 * Math.max(1, Math.abs(expected[i]!)) ? [] : [{ i, value, expected: expected[i] }]));
  expect(off, what).toEqual([]);
}

async function predicted(response: Response | Promise<Response>): Promise<number[][]> {
  const settled = await response;
  const text = await settled.text();
  expect(settled.status, text).toBe(200);
  return (JSON.parse(text) as { outputs: { output: number[][] } }).outputs.output;
}

it('never loads a half-written file, and loads it once complete', async () => {
  const gateway = await startTestGateway({ env: { MODEL_STABILITY_MS: '400' } });
  const states: string[] = [];
  gateway.gateway.registry.on('state-changed', (e) => {
    if (e.name === 'linear' && e.version === 2) states.push(e.state);
  });
  const bytes = linearModel(3);
  const path = join(gateway.repo, 'linear', '2', 'model.onnx');
  await mkdir(join(gateway.repo, 'linear', '2'), { recursive: true });
  const chunks = 6;
  const size = Math.ceil(bytes.length / chunks);
  await writeFile(path, bytes.subarray(0, size));
  for (let i = 1; i < chunks; i++) {
    await sleep(150);
    await appendFile(path, bytes.subarray(i * size, (i + 1) * size));
  }
  await eventually(async () => (await versionState(gateway, 'linear', 2))?.state === 'READY', 10_000, 'version 2 READY');
  expect(states).not.toContain('FAILED');
  expect(gateway.gateway.registry.stats().loadFailures).toBe(0);
  expect(await predicted(gateway.post('/models/linear/2/predict', LINEAR_INPUT))).toEqual(linearAnswer(3));
});

it('a corrupt file leaves the old version serving and shows FAILED with a reason; a good file recovers', async () => {
  const gateway = await startTestGateway();
  const path = join(gateway.repo, 'linear', '1', 'model.onnx');
  await writeFile(path, Buffer.from('this is not an onnx model, just bytes'));
  await eventually(async () => (await versionState(gateway, 'linear', 1))?.state === 'FAILED', 10_000, 'FAILED state');
  const failed = await versionState(gateway, 'linear', 1);
  expect(failed?.reason).toMatch(/\S{10,}/);

  // The previous session keeps serving.
  expect(await predicted(gateway.post('/models/linear/1/predict', LINEAR_INPUT))).toEqual(linearAnswer(1));

  // A truncated real model is refused too.
  await gateway.writeLinear('linear', 1, 2);
  await eventually(async () => (await versionState(gateway, 'linear', 1))?.state === 'READY', 10_000, 'READY');
  const failuresBefore = gateway.gateway.registry.stats().loadFailures;
  await truncate(path, 100);
  await eventually(() => gateway.gateway.registry.stats().loadFailures > failuresBefore, 10_000, 'truncated file refused');
  expect((await versionState(gateway, 'linear', 1))?.state).toBe('FAILED');

  // A good write recovers.
  await gateway.writeLinear('linear', 1, 4);
  await eventually(async () => (await versionState(gateway, 'linear', 1))?.state === 'READY', 10_000, 'recovered');
  expect((await versionState(gateway, 'linear', 1))?.reason).toBeUndefined();
  expect(await predicted(gateway.post('/models/linear/1/predict', LINEAR_INPUT))).toEqual(linearAnswer(4));
});

it('a broken first version answers 503 with its reason; other models keep loading', async () => {
  const gateway = await startTestGateway();
  await mkdir(join(gateway.repo, 'broken', '1'), { recursive: true });
  await writeFile(join(gateway.repo, 'broken', '1', 'model.onnx'), Buffer.alloc(64, 7));
  await gateway.writeLinear('other', 1, 1);
  await eventually(async () => (await versionState(gateway, 'other', 1))?.state === 'READY', 10_000, 'other READY');
  await eventually(async () => (await versionState(gateway, 'broken', 1))?.state === 'FAILED', 10_000, 'broken FAILED');
  await expectError(gateway.post('/models/broken/1/predict', LINEAR_INPUT), 503, 'VERSION_NOT_READY', 'FAILED');
});

it('deleting a version lets every request running or queued on it finish with 200 and the right answer, then releases its session once', async () => {
  // Batches of up to 4 requests, one at a time, and 8 clients that never stop: whenever the delete
  // is noticed, one batch holds the version's session and more requests wait behind it.
  const sizes = MLP_SIZES.heavy;
  const gateway = await startTestGateway({ models: { mlp: { 1: mlpModel(sizes), 2: mlpModel(sizes) } } });
  const ROWS = 64;
  await gateway.writeModelConfig('mlp', { max_batch_size: 4 * ROWS });
  await eventually(async () => (await modelView(gateway, 'mlp')).config.max_batch_size === 4 * ROWS, 10_000, 'config applied');
  const { registry, scheduler } = gateway.gateway;

  // The moment the version starts draining (synchronously, inside the unload): what was running on it.
  let atDrain: { running: number; queued: number; leases: number; successes: number; failures: number; releasedBefore: number } | undefined;
  const released: Array<{ cause: string; successes: number; inFlight: number }> = [];
  registry.on('state-changed', (e) => {
    if (e.name !== 'mlp' || e.version !== 2 || e.state !== 'DRAINING') return;
    const c = scheduler.counters('mlp', 2)!;
    atDrain = {
      // Accepted by the scheduler, neither answered nor still queued: inside a batch on the session.
      running: c.requests - c.successes - c.failures - c.cancelled - c.rejectedDeadline - scheduler.queued('mlp', 2),
      // Accepted and waiting in the batcher: these are served by the draining version too.
      queued: scheduler.queued('mlp', 2),
      leases: registry.status('mlp', 2)!.inFlight,
      successes: c.successes,
      failures: c.failures,
      releasedBefore: released.length,
    };
  });
  // The version's counters as the session goes: the batcher forgets a version once it is unloaded.
  let atRelease: { successes: number; failures: number } | undefined;
  registry.on('released', (e) => {
    if (e.name !== 'mlp' || e.version !== 2) return;
    const c = scheduler.counters('mlp', 2)!;
    atRelease = { successes: c.successes, failures: c.failures };
    released.push({ cause: e.cause, successes: c.successes, inFlight: registry.status('mlp', 2)?.inFlight ?? 0 });
  });

  const answered: Array<{ salt: number; status: number; body: any }> = [];
  let stop = false;
  const client = async (index: number) => {
    for (let round = 0; !stop; round++) {
      const salt = index * 1000 + round;
      const response = await gateway.post('/models/mlp/2/predict', { inputs: { input: mlpRows(ROWS, sizes[0], salt) } });
      answered.push({ salt, status: response.status, body: await response.json() });
      if (response.status !== 200) return;
    }
  };
  const clients = Array.from({ length: 8 }, (_, index) => client(index));
  await eventually(() => (scheduler.counters('mlp', 2)?.successes ?? 0) >= 8, 20_000, 'requests served before the delete');
  await rm(join(gateway.repo, 'mlp', '2'), { recursive: true, force: true });
  await eventually(() => !registry.knownVersions('mlp').includes(2), 20_000, 'version 2 unloaded');
  stop = true;
  await Promise.all(clients);

  // A batch was running when the delete was noticed, and nothing had been released yet.
  expect(atDrain).toBeDefined();
  const drain = atDrain!;
  expect(drain.leases).toBe(1);
  expect(drain.running).toBeGreaterThan(0);
  expect(drain.releasedBefore).toBe(0);
  // Every one of them, running or queued, was answered with outputs: none failed, none was cut short.
  expect(atRelease).toBeDefined();
  const final = atRelease!;
  expect(final.successes - drain.successes).toBe(drain.running + drain.queued);
  expect(final.failures).toBe(drain.failures);
  // The session went once, for the unload, after the last of them had its answer and no lease was out.
  expect(released).toEqual([{ cause: 'unloaded', successes: drain.successes + drain.running + drain.queued, inFlight: 0 }]);

  // Over HTTP: one 200 per success the scheduler counted, each with its own request's answer;
  // every other answer says the version is going (503) or gone (404).
  const ok = answered.filter((a) => a.status === 200);
  expect(ok).toHaveLength(final.successes);
  for (const { salt, body } of ok) {
    const rows = mlpRows(ROWS, sizes[0], salt);
    const [first, last] = mlpAnswer(sizes, 1, [rows[0]!, rows[ROWS - 1]!]);
    expect(body.outputs.output).toHaveLength(ROWS);
    expectClose(body.outputs.output[0], first!, `request ${salt}, first row`);
    expectClose(body.outputs.output[ROWS - 1], last!, `request ${salt}, last row`);
  }
  const refused = answered.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body.error?.code}`);
  expect(refused.filter((r) => r !== '503 VERSION_NOT_READY' && r !== '404 VERSION_NOT_FOUND')).toEqual([]);

  await expectError(gateway.post('/models/mlp/2/predict', { inputs: { input: mlpRows(1) } }), 404, 'VERSION_NOT_FOUND');
  expect((await gateway.post('/models/mlp/1/predict', { inputs: { input: mlpRows(1) } })).status).toBe(200);
  const stats = registry.stats();
  expect(stats.sessionsLoaded - stats.sessionsReleased).toBe(1);
});

it('reloads a version whose worker thread died, and serves it again', async () => {
  const gateway = await startTestGateway();
  const runtime = gateway.gateway.runtime as WorkerPoolRuntime;
  const lease = gateway.gateway.registry.acquire('linear', 1);
  const loadedBefore = gateway.gateway.registry.stats().sessionsLoaded;
  runtime.simulateWorkerCrash(lease.session);
  lease.release();
  await eventually(() => gateway.gateway.registry.stats().sessionsLoaded > loadedBefore, 10_000, 'reload after crash');
  await eventually(async () => (await gateway.post('/models/linear/1/predict', LINEAR_INPUT)).status === 200, 10_000, 'served again');
  expect(runtime.stats().workerExits).toBeGreaterThanOrEqual(1);
});
