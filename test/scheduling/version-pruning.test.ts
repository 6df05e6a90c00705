/**
 * The batcher and the policy cache forget versions that are gone, over a real ModelRegistry
 * (in-process onnxruntime sessions) and its 'unloaded' event: a queue is dropped once nothing of
 * it is queued or running (a request queued at unload time is still answered), a request that
 * raced the unload leaves no queue behind, and no policy is cached for a version the registry
 * does not know.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/errors.js';
import { ModelConfigStore } from '../../src/registry/model-config-store.js';
import { ModelRegistry } from '../../src/registry/model-registry.js';
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import { BatchingPolicyCache } from '../../src/scheduling/batching-policy-cache.js';
import { DynamicBatcher } from '../../src/scheduling/dynamic-batcher.js';
import type { Tensor } from '../../src/tensor.js';
import { writeModelFile } from '../../tools/model-builder/index.js';
import { eventually } from '../support/eventually.js';
import { linearModel } from '../support/models.js';

let dir: string;
let runtime: InProcessRuntime;
let registry: ModelRegistry;
let policies: BatchingPolicyCache;
let batcher: DynamicBatcher;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchyard-pruning-'));
  runtime = new InProcessRuntime();
  registry = new ModelRegistry({ runtime });
  policies = new BatchingPolicyCache({ configs: new ModelConfigStore(), versions: registry });
  batcher = new DynamicBatcher({ leases: registry, policyFor: (m, v) => policies.policyFor(m, v), versions: registry });
});
afterEach(async () => {
  await registry.close({ timeoutMs: 1000 });
  await runtime.close();
  await rm(dir, { recursive: true, force: true });
});

const input: Record<string, Tensor> = { input: { datatype: 'FP32', shape: [1, 4], data: Float32Array.from([1, 2, 3, 4]) } };

async function loadVersions(count: number): Promise<void> {
  const file = path.join(dir, 'linear.onnx');
  await writeModelFile(file, linearModel(1));
  for (let version = 1; version <= count; version++) await registry.load('linear', version, file);
}

it('drops the queue and counters of every unloaded version, and keeps the others', async () => {
  await loadVersions(5);
  for (let version = 1; version <= 5; version++) await batcher.infer({ model: 'linear', version, inputs: input });
  expect(batcher.counters('linear', 1)).toMatchObject({ requests: 1, successes: 1 });
  expect(policies.size).toBe(5);
  for (let version = 1; version <= 4; version++) await registry.unload('linear', version);
  expect(batcher.counters('linear', 1)).toBeUndefined();
  expect(batcher.counters('linear', 5)).toMatchObject({ requests: 1, successes: 1 });
  expect(batcher.versionCount).toBe(1);
  expect(policies.size).toBe(1);
});

it('answers a request that was running at unload time, then drops its queue', async () => {
  await loadVersions(1);
  // Leased before the unload: the unload waits for it, so the queue is not idle when the unload begins.
  const running = batcher.infer({ model: 'linear', version: 1, inputs: input });
  const unloaded = registry.unload('linear', 1);
  expect((await running).outputs.output!.shape).toEqual([1, 2]);
  await unloaded;
  await eventually(() => batcher.counters('linear', 1) === undefined, 5_000, 'queue dropped');
  expect(batcher.versionCount).toBe(0);
});

it('leaves no queue and no policy behind for a request that raced its version away', async () => {
  await loadVersions(1);
  await registry.unload('linear', 1);
  const error = await batcher.infer({ model: 'linear', version: 1, inputs: input }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SwitchyardError);
  expect((error as SwitchyardError).code).toBe('MODEL_NOT_FOUND');
  expect(policies.size).toBe(0);
  expect(batcher.counters('linear', 1)).toBeUndefined();
  expect(batcher.versionCount).toBe(0);
});
