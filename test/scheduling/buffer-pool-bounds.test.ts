/**
 * The merge-buffer pool stays bounded when clients choose the dims. Over a real worker pool (which
 * hands merged buffers back after each batch): batches of many distinct widths leave at most
 * DEFAULT_POOL_MAX_SIZES sizes in the pool, the least recently used dropped with their bytes,
 * and a size still in use keeps being reused.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import type { BatchingPolicy } from '../../src/scheduling/batching-policy.js';
import { DynamicBatcher } from '../../src/scheduling/dynamic-batcher.js';
import type { Tensor } from '../../src/tensor.js';
import { identityModel } from '../support/models.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

/** The pool's default cap on sizes (README, Dynamic batching). */
const DEFAULT_POOL_MAX_SIZES = 64;

/** Two one-row requests make a batch: it runs as soon as the second has queued. */
const policy: BatchingPolicy = {
  maxBatchSize: 2,
  maxQueueDelayMs: 60_000,
  preferredBatchSizes: [],
  maxQueueSize: 1024,
  instances: 1,
  defaultTimeoutMs: undefined,
};

function row(width: number): Record<string, Tensor> {
  return { input: { datatype: 'FP32', shape: [1, width], data: new Float32Array(width).fill(width) } };
}

let folder: TempDir;
const runtime = new WorkerPoolRuntime({ workers: 1 });
beforeAll(async () => {
  folder = await tempDir('scheduling');
});
afterAll(async () => {
  await runtime.close();
  await folder.remove();
});

it('keeps at most DEFAULT_POOL_MAX_SIZES (datatype, length) sizes however many widths clients send', async () => {
  const session = await runtime.load(await folder.write('identity.onnx', identityModel('FP32', [-1, -1])));
  const batcher = new DynamicBatcher({ leases: { acquire: (_m, version) => ({ version, session, release: () => {} }) }, policyFor: () => policy });
  const widths = DEFAULT_POOL_MAX_SIZES + 50;
  const batch = async (width: number) => {
    const results = await Promise.all([batcher.infer({ model: 'm', version: 1, inputs: row(width) }), batcher.infer({ model: 'm', version: 1, inputs: row(width) })]);
    for (const result of results) expect(Array.from(result.outputs.output!.data as Float32Array)).toEqual(new Array(width).fill(width));
  };
  for (let width = 1; width <= widths; width++) await batch(width);

  const stats = batcher.pool.stats();
  expect(stats.allocated).toBe(widths);
  // The bytes of the sizes kept, the newest ones (a merged batch of width w holds 2w floats).
  let kept = 0;
  for (let width = widths - DEFAULT_POOL_MAX_SIZES + 1; width <= widths; width++) kept += 2 * width * 4;
  expect(stats.bytes).toBe(kept);
  expect(stats.sizes).toBe(DEFAULT_POOL_MAX_SIZES);

  // The newest size is still there and reused; the oldest was dropped and is allocated again.
  await batch(widths);
  expect(batcher.pool.stats()).toMatchObject({ reused: 1, allocated: widths });
  await batch(1);
  expect(batcher.pool.stats()).toMatchObject({ reused: 1, allocated: widths + 1, sizes: DEFAULT_POOL_MAX_SIZES });
});
