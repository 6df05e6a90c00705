/**
 * When the batcher splits a failed batch, and when it must not. Over a real worker pool and the
 * lookup model: onnxruntime rejecting the merged inputs splits the batch (only the bad request
 * fails); a worker that dies under the batch fails it whole, since rerunning on a dead session
 * would only add errors.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/errors.js';
import type { InferenceSession } from '../../src/runtime/inference-runtime.js';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import type { BatchingPolicy } from '../../src/scheduling/batching-policy.js';
import { DynamicBatcher } from '../../src/scheduling/dynamic-batcher.js';
import type { SessionLeaseProvider } from '../../src/scheduling/session-lease.js';
import type { Tensor } from '../../src/tensor.js';
import { lookupValue } from '../../tools/model-builder/index.js';
import { lookupModel } from '../support/models.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

/** Every request of these tests shares one batch: it runs when `maxBatchSize` rows are queued. */
const policy = (maxBatchSize: number): BatchingPolicy => ({
  maxBatchSize,
  maxQueueDelayMs: 60_000,
  preferredBatchSizes: [],
  maxQueueSize: 1024,
  instances: 1,
  defaultTimeoutMs: undefined,
});

function leasesOf(session: InferenceSession): SessionLeaseProvider {
  return { acquire: (_model, version) => ({ version, session, release: () => {} }) };
}

function index(value: number): Record<string, Tensor> {
  return { index: { datatype: 'INT64', shape: [1, 1], data: BigInt64Array.from([BigInt(value)]) } };
}

async function outcome(promise: Promise<{ outputs: Record<string, Tensor> }>): Promise<number | SwitchyardError> {
  try {
    return Number((await promise).outputs.value!.data[0]);
  } catch (error) {
    if (error instanceof SwitchyardError) return error;
    throw error;
  }
}

let folder: TempDir;
let path: string;
let runtime: WorkerPoolRuntime | undefined;
beforeAll(async () => {
  folder = await tempDir('scheduling');
  path = await folder.write('lookup.onnx', lookupModel(8));
});
afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
});
afterAll(() => folder.remove());

it('splits a batch onnxruntime rejected: the good requests get their values, the bad one its own error', async () => {
  runtime = new WorkerPoolRuntime({ workers: 1 });
  const batcher = new DynamicBatcher({ leases: leasesOf(await runtime.load(path)), policyFor: () => policy(4) });
  const results = await Promise.all([1, 9, 2, 6].map((i) => outcome(batcher.infer({ model: 'm', version: 1, inputs: index(i) }))));
  expect(results[0]).toBe(lookupValue(1));
  expect(results[2]).toBe(lookupValue(2));
  expect(results[3]).toBe(lookupValue(6));
  const bad = results[1] as SwitchyardError;
  expect(bad.code).toBe('INFERENCE_FAILED');
  expect(bad.details).toMatchObject({ reason: 'onnxruntime' });
  expect(bad.message).toContain('idx=9');
  expect(batcher.counters('m', 1)).toMatchObject({ requests: 4, successes: 3, failures: 1, splits: 1, executions: 3 });
});

it('does not split a batch whose worker died: every request fails with the crash, nothing is rerun', async () => {
  runtime = new WorkerPoolRuntime({ workers: 1 });
  const session = await runtime.load(path);
  const batcher = new DynamicBatcher({ leases: leasesOf(session), policyFor: () => policy(3) });
  const first = [0, 1].map((i) => outcome(batcher.infer({ model: 'm', version: 1, inputs: index(i) })));
  // The crash reaches the worker before the batch the third request completes.
  runtime.simulateWorkerCrash(session);
  const results = await Promise.all([...first, outcome(batcher.infer({ model: 'm', version: 1, inputs: index(2) }))]);
  for (const result of results) {
    expect(result).toBeInstanceOf(SwitchyardError);
    expect((result as SwitchyardError).details).toMatchObject({ reason: 'worker-exited' });
  }
  expect(batcher.counters('m', 1)).toMatchObject({ requests: 3, failures: 3, splits: 0, executions: 0 });
  expect(runtime.stats().runs).toBe(1);
});
