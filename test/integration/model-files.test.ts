/**
 * Model files as operators really write them: slowly, broken, deleted while in use. Checked over
 * HTTP against a live gateway watching a temp repository.
 */
import { appendFile, rm, truncate, writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { buildLinearModel, buildMlpModel } from '../../tools/model-builder/index.js';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

interface VersionBody {
  versions: Array<{ version: number; state: string; reason?: string }>;
}

async function versionState(gateway: TestGateway, name: string, version: number) {
  const response = await fetch(`${gateway.url}/models/${name}`);
  if (response.status === 404) return undefined;
  const body = (await response.json()) as VersionBody;
  return body.versions.find((v) => v.version === version);
}

it('never loads a half-written file, and loads it once complete', async () => {
  t = await startTestGateway({ env: { MODEL_STABILITY_MS: '400' } });
  const gateway = t;
  const states: string[] = [];
  gateway.gateway.registry.on('state-changed', (e) => {
    if (e.name === 'linear' && e.version === 2) states.push(e.state);
  });
  const bytes = buildLinearModel({ inputSize: 4, outputSize: 2, scale: 3 });
  const path = join(gateway.repo, 'linear', '2', 'model.onnx');
  mkdirSync(join(gateway.repo, 'linear', '2'), { recursive: true });
  const chunks = 6;
  const size = Math.ceil(bytes.length / chunks);
  await writeFile(path, bytes.subarray(0, size));
  for (let i = 1; i < chunks; i++) {
    await new Promise((r) => setTimeout(r, 150));
    await appendFile(path, bytes.subarray(i * size, (i + 1) * size));
  }
  await eventually(async () => (await versionState(gateway, 'linear', 2))?.state === 'READY', 10_000, 'version 2 READY');
  expect(states).not.toContain('FAILED');
  expect(gateway.gateway.registry.stats().loadFailures).toBe(0);
  const response = await gateway.post('/models/linear/2/predict', LINEAR_INPUT);
  expect(((await response.json()) as { outputs: { output: number[][] } }).outputs.output).toEqual([[15, 4.5]]);
});

it('a corrupt file leaves the old version serving and shows FAILED with a reason; a good file recovers', async () => {
  t = await startTestGateway();
  const gateway = t;
  const path = join(gateway.repo, 'linear', '1', 'model.onnx');
  await writeFile(path, Buffer.from('this is not an onnx model, just bytes'));
  await eventually(async () => (await versionState(gateway, 'linear', 1))?.state === 'FAILED', 10_000, 'FAILED state');
  const failed = await versionState(gateway, 'linear', 1);
  expect(failed?.reason).toMatch(/\S{10,}/);

  // The previous session keeps serving.
  const served = await gateway.post('/models/linear/1/predict', LINEAR_INPUT);
  expect(served.status).toBe(200);
  expect(((await served.json()) as { outputs: { output: number[][] } }).outputs.output).toEqual([[5, 1.5]]);

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
  const recovered = await gateway.post('/models/linear/1/predict', LINEAR_INPUT);
  expect(((await recovered.json()) as { outputs: { output: number[][] } }).outputs.output).toEqual([[20, 6]]);
});

it('a broken first version answers 503 with its reason; other models keep loading', async () => {
  t = await startTestGateway();
  const gateway = t;
  mkdirSync(join(gateway.repo, 'broken', '1'), { recursive: true });
  await writeFile(join(gateway.repo, 'broken', '1', 'model.onnx'), Buffer.alloc(64, 7));
  await gateway.writeLinear('other', 1, 1);
  await eventually(async () => (await versionState(gateway, 'other', 1))?.state === 'READY', 10_000, 'other READY');
  await eventually(async () => (await versionState(gateway, 'broken', 1))?.state === 'FAILED', 10_000, 'broken FAILED');
  const response = await gateway.post('/models/broken/1/predict', LINEAR_INPUT);
  expect(response.status).toBe(503);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('VERSION_NOT_READY');
  expect(body.error.message).toContain('FAILED');
});

it('deleting a version lets its in-flight requests complete, then answers a clear 404/503', async () => {
  // A heavier model with large batches keeps requests in flight long enough to overlap the delete.
  const mlp = buildMlpModel({ sizes: [256, 1024, 1024, 256] });
  t = await startTestGateway({ models: { mlp: { 1: mlp, 2: mlp } } });
  const gateway = t;
  const row = Array.from({ length: 256 }, (_, i) => (i % 7) / 7);
  const body = { inputs: { input: Array.from({ length: 256 }, () => row) } };

  let inFlightAtDrain = -1;
  gateway.gateway.registry.on('state-changed', (e) => {
    if (e.name === 'mlp' && e.version === 2 && e.state === 'DRAINING') {
      inFlightAtDrain = gateway.gateway.registry.status('mlp', 2)?.inFlight ?? -1;
    }
  });

  const outcomes: Array<{ status: number; code?: string }> = [];
  let stop = false;
  const client = async () => {
    while (!stop) {
      const response = await gateway.post('/models/mlp/2/predict', body);
      const json = (await response.json()) as { error?: { code: string } };
      outcomes.push({ status: response.status, ...(json.error ? { code: json.error.code } : {}) });
      if (response.status !== 200) return;
    }
  };
  const clients = Array.from({ length: 8 }, client);
  await eventually(() => (gateway.gateway.registry.status('mlp', 2)?.inFlight ?? 0) > 0, 10_000, 'requests in flight');
  await rm(join(gateway.repo, 'mlp', '2'), { recursive: true, force: true });
  await eventually(() => !gateway.gateway.registry.knownVersions('mlp').includes(2), 15_000, 'version 2 unloaded');
  stop = true;
  await Promise.all(clients);

  expect(inFlightAtDrain).toBeGreaterThan(0);
  const unexpected = outcomes.filter(
    (o) => !(o.status === 200 || (o.status === 404 && o.code === 'VERSION_NOT_FOUND') || (o.status === 503 && o.code === 'VERSION_NOT_READY')),
  );
  expect(unexpected).toEqual([]);
  expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThanOrEqual(inFlightAtDrain);
  const after = await gateway.post('/models/mlp/2/predict', body);
  expect(after.status).toBe(404);
  expect((await gateway.post('/models/mlp/1/predict', body)).status).toBe(200);
  // The deleted version's session was released.
  const stats = gateway.gateway.registry.stats();
  expect(stats.sessionsLoaded - stats.sessionsReleased).toBe(1);
});

it('reloads a version whose worker thread died, and serves it again', async () => {
  t = await startTestGateway();
  const gateway = t;
  const runtime = gateway.gateway.runtime as WorkerPoolRuntime;
  const lease = gateway.gateway.registry.acquire('linear', 1);
  const loadedBefore = gateway.gateway.registry.stats().sessionsLoaded;
  runtime.simulateWorkerCrash(lease.session);
  lease.release();
  await eventually(() => gateway.gateway.registry.stats().sessionsLoaded > loadedBefore, 10_000, 'reload after crash');
  await eventually(async () => (await gateway.post('/models/linear/1/predict', LINEAR_INPUT)).status === 200, 10_000, 'served again');
  expect(runtime.stats().workerExits).toBeGreaterThanOrEqual(1);
});
