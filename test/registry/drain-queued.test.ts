/**
 * Drain semantics with the real scheduler in front (README, Model repository: "Remove a version
 * ... in-flight requests finish"): requests already queued in the batcher when their version is
 * unloaded are served by that version, not refused; only requests that come after are.
 * Deterministic without any timing: the first request's batch holds the version's one instance,
 * so the others are still queued when the unload starts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/model-registry.js';
import type { BatchingPolicy } from '../../src/scheduling/batching-policy.js';
import { DynamicBatcher } from '../../src/scheduling/dynamic-batcher.js';
import type { Tensor } from '../../src/tensor.js';
import { RUNTIMES } from '../support/runtimes.js';
import { expectedOutput, INPUT_ROW, linear, modelFiles, type ModelFiles } from './registry-fixtures.js';

const POLICY: BatchingPolicy = { maxBatchSize: 64, maxQueueDelayMs: 0, preferredBatchSizes: [], maxQueueSize: 1024, instances: 1, defaultTimeoutMs: undefined };

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

function row(): Record<string, Tensor> {
  return { input: { datatype: 'FP32', shape: [1, 3], data: Float32Array.from(INPUT_ROW) } };
}

for (const { label, create } of RUNTIMES) {
  describe(label, () => {
    it('serves every request queued before an unload on that version, refuses the ones after, then forgets it', async () => {
      const runtime = create();
      const registry = new ModelRegistry({ runtime });
      const files: ModelFiles = await modelFiles();
      cleanup.push(() => runtime.close(), () => registry.close({ timeoutMs: 1_000 }));
      await registry.load('lin', 1, await files.linear('v1.onnx', 2));
      await registry.load('lin', 2, await files.linear('v2.onnx', 3));
      const batcher = new DynamicBatcher({ leases: registry, policyFor: () => POLICY });

      const running = batcher.infer({ model: 'lin', version: 1, inputs: row() });
      const queued = [0, 1, 2].map(() => batcher.infer({ model: 'lin', version: 1, inputs: row() }));
      expect(batcher.queued('lin', 1)).toBe(3);

      const unloading = registry.unload('lin', 1);
      expect(registry.status('lin', 1)).toMatchObject({ state: 'DRAINING', servable: false });
      // New requests are refused from the drain on: routing no longer offers the version.
      expect(registry.servableVersions('lin')).toEqual([2]);

      const results = await Promise.all([running, ...queued]);
      expect(results.map((result) => result.version)).toEqual([1, 1, 1, 1]);
      for (const result of results) expect(Array.from(result.outputs.output!.data as Float32Array)).toEqual(expectedOutput(linear(2)));

      await unloading;
      expect(registry.status('lin', 1)).toBeUndefined();
      await expect(batcher.infer({ model: 'lin', version: 1, inputs: row() })).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND', status: 404 });
      expect(registry.stats()).toMatchObject({ sessionsLoaded: 2, sessionsReleased: 1 });
    });
  });
}
