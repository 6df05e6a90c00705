/**
 * BatchingPolicyCache over a real ModelConfigStore (config.json in a temp dir) and a real
 * ModelRegistry (onnxruntime sessions): policies follow config changes and reloads, and the
 * policies of unloaded versions are dropped.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ModelConfigStore } from '../../src/registry/model-config-store.js';
import { ModelRegistry } from '../../src/registry/model-registry.js';
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import { DEFAULT_MAX_BATCH_SIZE } from '../../src/scheduling/batching-policy.js';
import { BatchingPolicyCache } from '../../src/scheduling/batching-policy-cache.js';
import { identityModel, linearModel } from '../support/models.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

let dir: TempDir;
let runtime: InProcessRuntime;
let registry: ModelRegistry;
let configs: ModelConfigStore;
let cache: BatchingPolicyCache;

beforeEach(async () => {
  dir = await tempDir('policy');
  runtime = new InProcessRuntime();
  registry = new ModelRegistry({ runtime });
  configs = new ModelConfigStore();
  cache = new BatchingPolicyCache({ configs, versions: registry });
});

afterEach(async () => {
  await registry.close({ timeoutMs: 1000 });
  await runtime.close();
});

const model = (file: string, bytes: Uint8Array): Promise<string> => dir.write(file, bytes);

it('resolves once per version, and again after its config changes or it reloads', async () => {
  const configPath = await dir.write('config.json', JSON.stringify({ max_batch_size: 8 }));
  await configs.load('lin', configPath);
  await registry.load('lin', 1, await model('v1.onnx', linearModel(1)));
  await registry.load('lin', 2, await model('v2.onnx', linearModel(2)));

  const first = cache.policyFor('lin', 1);
  expect(first.maxBatchSize).toBe(8);
  expect(cache.policyFor('lin', 1)).toBe(first);
  expect(cache.policyFor('lin', 2).maxBatchSize).toBe(8);
  expect(cache.size).toBe(2);

  await dir.write('config.json', JSON.stringify({ max_batch_size: 4, max_queue_size: 10 }));
  await configs.load('lin', configPath);
  expect(cache.size).toBe(0);
  expect(cache.policyFor('lin', 1)).toMatchObject({ maxBatchSize: 4, maxQueueSize: 10 });

  // A reload to a file whose first dimension is fixed ([1, 3]: not batchable) turns batching off for that version only.
  const kept = cache.policyFor('lin', 2);
  await registry.load('lin', 1, await model('fixed.onnx', identityModel('FP32', [1, 3])));
  expect(cache.policyFor('lin', 1).maxBatchSize).toBe(0);
  expect(cache.policyFor('lin', 2)).toBe(kept);
});

it('drops the policy of a version once it is unloaded, so nothing is kept for versions that are gone', async () => {
  const file = await model('v.onnx', linearModel(1));
  for (let version = 1; version <= 5; version++) {
    await registry.load('lin', version, file);
    expect(cache.policyFor('lin', version).maxBatchSize).toBe(DEFAULT_MAX_BATCH_SIZE);
  }
  expect(cache.size).toBe(5);
  for (let version = 1; version <= 4; version++) await registry.unload('lin', version);
  expect(cache.size).toBe(1);
  await registry.unload('lin', 5);
  expect(cache.size).toBe(0);
});
