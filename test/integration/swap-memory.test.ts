/**
 * Memory over hot swaps: a version's model file (a 2.6 MB MLP) overwritten 30 times through the real gateway
 * and worker-pool runtime, with traffic in between, leaves the runtime where it was: as many
 * sessions and worker threads as before the swaps, every session the registry loaded released but
 * the serving one, nothing left in the batcher, and the heap (measured after a full GC) back
 * within a generous bound. Counts, not times.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { expect, it } from 'vitest';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { mlpModel, mlpRows } from '../support/models.js';

const SWAPS = 30;
/** About 2.6 MB of weights: a swap that left its file's bytes (or a session's buffers) behind would show. */
const SIZES = [64, 2048, 256];
/** Files written in turn (one model per seed), all built before the baseline. */
const SEEDS = [1, 2, 3, 4, 5, 6, 7];
/** Far above what 30 swaps may keep on the main thread (a few MB), far below 30 model files (78 MB). */
const HEAP_SLACK_BYTES = 16 * 1024 * 1024;
const INPUT = { inputs: { input: mlpRows(1, SIZES[0]) } };

/** A full, synchronous GC: this process is not started with --expose-gc, so expose it now. */
function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function heapAfterGc(gc: () => void): Promise<number> {
  // Twice, with a turn in between, so finalizers and weak callbacks of the first pass are collected too.
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Writes version 1 of `mlp` with `seed`, waits for it to serve, and sends a few concurrent requests. */
async function swapTo(t: TestGateway, seed: number): Promise<void> {
  const swaps = t.gateway.registry.stats().swaps;
  await t.writeModel('mlp', 1, mlpModel(SIZES, seed));
  await eventually(() => t.gateway.registry.stats().swaps === swaps + 1 && t.gateway.registry.status('mlp', 1)?.state === 'READY', 20_000, `swap to seed ${seed}`);
  const answers = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const response = await t.post('/models/mlp/1/predict', INPUT);
      expect(response.status).toBe(200);
      return ((await response.json()) as { outputs: { output: number[][] } }).outputs.output;
    }),
  );
  for (const output of answers) expect(output.map((row) => row.length)).toEqual([SIZES[2]]);
}

it(`returns to its session count, worker count and heap after ${SWAPS} hot swaps`, async () => {
  for (const seed of SEEDS) mlpModel(SIZES, seed);
  const t = await startTestGateway({ models: { mlp: { 1: mlpModel(SIZES, 7) } } });
  const runtime = t.gateway.runtime;
  expect(runtime).toBeInstanceOf(WorkerPoolRuntime);
  const pool = runtime as WorkerPoolRuntime;
  const gc = collectGarbage();

  // Warm up first (both worker threads started, code compiled, buffers pooled), then take the baseline.
  for (let i = 0; i < 3; i++) await swapTo(t, SEEDS[i]!);
  const settled = async () =>
    eventually(() => {
      const registry = t.gateway.registry.stats();
      return registry.sessionsLoaded - registry.sessionsReleased === 1 && pool.stats().sessions === 1 && pool.stats().inFlight === 0;
    }, 20_000, 'retired sessions released');
  await settled();
  const before = pool.stats();
  const heapBefore = await heapAfterGc(gc);

  for (let i = 0; i < SWAPS; i++) await swapTo(t, SEEDS[(i + 3) % SEEDS.length]!);
  await settled();

  const after = pool.stats();
  expect(after.sessions).toBe(before.sessions);
  expect(after.workers).toBe(before.workers);
  expect(after.workers).toBeLessThanOrEqual(t.gateway.config.runtime.workers);
  expect(after.sessionsPerWorker.reduce((sum, n) => sum + n, 0)).toBe(1);
  expect(after.sessionsReleased - before.sessionsReleased).toBe(SWAPS);
  expect(after.sessionsLost).toBe(0);
  const registry = t.gateway.registry.stats();
  expect(registry.swaps).toBe(3 + SWAPS);
  expect(registry.sessionsLoaded - registry.sessionsReleased).toBe(1);
  expect(t.gateway.scheduler.versionCount).toBe(1);
  expect(t.gateway.scheduler.queued('mlp', 1)).toBe(0);
  // Merge buffers: at most one size per merged batch size (2 to 8 rows of one datatype and width).
  expect(t.gateway.scheduler.pool.stats().sizes).toBeLessThanOrEqual(7);

  const heapAfter = await heapAfterGc(gc);
  expect(heapAfter - heapBefore).toBeLessThan(HEAP_SLACK_BYTES);
});
