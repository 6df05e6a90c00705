/**
 * The in-process ceiling: rows/s that the same sessions reach when nothing but session.run runs,
 * at the best batch size. Measured through the runtime directly (no HTTP, no JSON).
 */
import { performance } from 'node:perf_hooks';
import type { InferenceRuntime } from '../../src/runtime/inference-runtime.js';
import type { Tensor } from '../../src/tensor.js';

export interface CeilingResult {
  readonly bestBatchSize: number;
  readonly rowsPerSecond: number;
  readonly byBatchSize: ReadonlyArray<{ batchSize: number; rowsPerSecond: number }>;
}

function rowsOf(width: number, rows: number): Tensor {
  const data = new Float32Array(rows * width);
  for (let i = 0; i < data.length; i++) data[i] = ((i % 17) - 8) / 8;
  return { datatype: 'FP32', shape: [rows, width], data };
}

/** `sessions` sessions run batches back to back, concurrently, for `seconds` per batch size. */
export async function measureCeiling(
  runtime: InferenceRuntime,
  modelPath: string,
  width: number,
  sessions: number,
  batchSizes: readonly number[],
  seconds: number,
): Promise<CeilingResult> {
  const loaded = await Promise.all(Array.from({ length: sessions }, () => runtime.load(modelPath)));
  const byBatchSize: Array<{ batchSize: number; rowsPerSecond: number }> = [];
  try {
    for (const batchSize of batchSizes) {
      const until = performance.now() + seconds * 1000;
      let rows = 0;
      const started = performance.now();
      await Promise.all(
        loaded.map(async (session) => {
          while (performance.now() < until) {
            await session.run({ input: rowsOf(width, batchSize) });
            rows += batchSize;
          }
        }),
      );
      byBatchSize.push({ batchSize, rowsPerSecond: rows / ((performance.now() - started) / 1000) });
    }
  } finally {
    await Promise.all(loaded.map((session) => session.release()));
  }
  const best = byBatchSize.reduce((a, b) => (b.rowsPerSecond > a.rowsPerSecond ? b : a));
  return { bestBatchSize: best.batchSize, rowsPerSecond: best.rowsPerSecond, byBatchSize };
}
