/**
 * The dynamic batcher over real onnxruntime sessions. The lease provider is a second, recording
 * implementation of the registry's interface: it hands out a real session and notes every batch
 * that actually ran (and can hold a batch at a gate, to fill the queue deterministically).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceSession } from '../../src/runtime/inference-runtime.js';
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import type { BatchingPolicy } from '../../src/scheduling/batching-policy.js';
import { DynamicBatcher } from '../../src/scheduling/dynamic-batcher.js';
import type { ClientConnection, InferenceRequest } from '../../src/scheduling/inference-scheduler.js';
import type { SessionLeaseProvider } from '../../src/scheduling/session-lease.js';
import type { Tensor } from '../../src/tensor.js';
import { rejectionOf, thrownBy } from '../support/errors.js';
import { eventually } from '../support/eventually.js';
import { identityModel, mlpModel } from '../support/models.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

class RecordingLeases implements SessionLeaseProvider {
  readonly batches: Array<{ rows: number; shapes: Record<string, readonly number[]>; firstValues: number[] }> = [];
  constructor(private readonly session: InferenceSession) {}
  acquire(_model: string, version: number) {
    const session: InferenceSession = {
      signature: this.session.signature,
      run: async (inputs, names, options) => {
        const shapes = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, t.shape]));
        const first = Object.values(inputs)[0]!;
        this.batches.push({ rows: first.shape[0]!, shapes, firstValues: Array.from(first.data as Float32Array).map(Number) });
        return this.session.run(inputs, names, options);
      },
      release: () => Promise.resolve(),
    };
    return { version, session, release: () => {} };
  }
}

const policy = (overrides: Partial<BatchingPolicy> = {}): BatchingPolicy => ({
  maxBatchSize: 64,
  maxQueueDelayMs: 0,
  preferredBatchSizes: [],
  maxQueueSize: 1024,
  instances: 1,
  defaultTimeoutMs: undefined,
  ...overrides,
});

function rowsTensor(rows: number, width: number, seed: number): Tensor {
  const data = new Float32Array(rows * width);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed * 7.1 + i * 0.37);
  return { datatype: 'FP32', shape: [rows, width], data };
}

function request(inputs: Record<string, Tensor>, extra: Partial<InferenceRequest> = {}): InferenceRequest {
  return { model: 'm', version: 1, inputs, ...extra };
}

let folder: TempDir;
const runtime = new InProcessRuntime();
let mlp: InferenceSession;
let identity: InferenceSession;

beforeAll(async () => {
  folder = await tempDir('batcher');
  mlp = await runtime.load(await folder.write('mlp.onnx', mlpModel([16, 32, 8])));
  identity = await runtime.load(await folder.write('identity.onnx', identityModel('FP32', [-1, -1])));
});
afterAll(async () => {
  await runtime.close();
});

describe('DynamicBatcher', () => {
  it('merges concurrent requests into fewer executions with the same results as alone', async () => {
    const leases = new RecordingLeases(mlp);
    const batcher = new DynamicBatcher({ leases, policyFor: () => policy() });
    const inputs = Array.from({ length: 40 }, (_, i) => rowsTensor(1 + (i % 3), 16, i));
    const alone: Tensor[] = [];
    for (const input of inputs) alone.push((await mlp.run({ input: { ...input, data: (input.data as Float32Array).slice() } })).output!);

    const held = holdFirstBatch(leases);
    const results = inputs.map((input) => batcher.infer(request({ input })));
    await held.queued(batcher, 39);
    held.release();
    const counters = () => batcher.counters('m', 1)!;
    const outputs = await Promise.all(results);

    expect(counters().requests).toBe(40);
    expect(counters().executions).toBeLessThan(40);
    expect(counters().executions).toBe(leases.batches.length);
    expect(counters().inferredRows).toBe(inputs.reduce((sum, t) => sum + t.shape[0]!, 0));
    outputs.forEach((result, i) => {
      const got = result.outputs.output!;
      const want = alone[i]!;
      expect(got.shape).toEqual(want.shape);
      const g = got.data as Float32Array;
      const w = want.data as Float32Array;
      for (let j = 0; j < w.length; j++) expect(Math.abs(g[j]! - w[j]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(w[j]!)));
    });
  });

  it('never merges requests whose trailing shapes differ', async () => {
    const leases = new RecordingLeases(identity);
    const batcher = new DynamicBatcher({ leases, policyFor: () => policy() });
    const held = holdFirstBatch(leases);
    const inputs = Array.from({ length: 30 }, (_, i) => rowsTensor(1 + (i % 2), i % 3 === 0 ? 2 : 3, i));
    const results = inputs.map((input) => batcher.infer(request({ input })));
    await held.queued(batcher, 29);
    held.release();
    const outputs = await Promise.all(results);
    for (const batch of leases.batches) expect([2, 3]).toContain(batch.shapes.input![1]);
    expect(leases.batches.length).toBeGreaterThanOrEqual(3); // the held one, then at least one per width
    expect(leases.batches.length).toBeLessThan(30);
    outputs.forEach((result, i) => expect(Array.from(result.outputs.output!.data as Float32Array)).toEqual(Array.from(inputs[i]!.data as Float32Array)));
  });

  it('answers 504 to a request whose deadline passes in the queue, and never runs it', async () => {
    const leases = new RecordingLeases(mlp);
    const batcher = new DynamicBatcher({ leases, policyFor: () => policy() });
    const held = holdFirstBatch(leases);
    const first = batcher.infer(request({ input: rowsTensor(1, 16, 1) }));
    const marked = rowsTensor(1, 16, 99);
    const late = batcher.infer(request({ input: marked }, { deadline: Date.now() + 30 }));
    const error = await rejectionOf(late);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.status).toBe(504);
    held.release();
    await first;
    await batcher.drain();
    expect(batcher.counters('m', 1)!.rejectedDeadline).toBe(1);
    const markedFirst = (marked.data as Float32Array)[0]!;
    expect(leases.batches.some((b) => b.firstValues.includes(markedFirst))).toBe(false);
    expect(leases.batches.length).toBe(1);
  });

  it('answers 503 QUEUE_FULL at once when the queue is full', async () => {
    const leases = new RecordingLeases(mlp);
    const batcher = new DynamicBatcher({ leases, policyFor: () => policy({ maxQueueSize: 2 }) });
    const held = holdFirstBatch(leases);
    const running = batcher.infer(request({ input: rowsTensor(1, 16, 1) }));
    await held.started;
    const queued = [batcher.infer(request({ input: rowsTensor(1, 16, 2) })), batcher.infer(request({ input: rowsTensor(1, 16, 3) }))];
    // At once: infer() throws before it returns a promise, nothing is queued.
    const refused = thrownBy(() => batcher.infer(request({ input: rowsTensor(1, 16, 4) })));
    expect(refused.code).toBe('QUEUE_FULL');
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    held.release();
    await Promise.all([running, ...queued]);
    expect(batcher.counters('m', 1)!.rejectedQueueFull).toBe(1);
  });

  it('drops a queued request whose client disconnects, without running it', async () => {
    const leases = new RecordingLeases(mlp);
    const batcher = new DynamicBatcher({ leases, policyFor: () => policy() });
    const held = holdFirstBatch(leases);
    const running = batcher.infer(request({ input: rowsTensor(1, 16, 1) }));
    await held.started;
    const listeners: Array<() => void> = [];
    let gone = false;
    const client: ClientConnection = {
      get gone() {
        return gone;
      },
      onGone(listener) {
        listeners.push(listener);
        return () => listeners.splice(listeners.indexOf(listener), 1);
      },
    };
    const marked = rowsTensor(1, 16, 42);
    const abandoned = batcher.infer(request({ input: marked }, { client }));
    expect(batcher.queued('m', 1)).toBe(1);
    gone = true;
    for (const listener of [...listeners]) listener();
    expect((await rejectionOf(abandoned)).code).toBe('REQUEST_CANCELLED');
    expect(batcher.queued('m', 1)).toBe(0);
    held.release();
    await running;
    expect(batcher.counters('m', 1)!.cancelled).toBe(1);
    expect(leases.batches.some((b) => b.firstValues.includes((marked.data as Float32Array)[0]!))).toBe(false);
  });

  it('runs each request alone when batching is off, and cuts batches at preferred sizes', async () => {
    const leases = new RecordingLeases(mlp);
    const off = new DynamicBatcher({ leases, policyFor: () => policy({ maxBatchSize: 0 }) });
    const held = holdFirstBatch(leases);
    const all = Array.from({ length: 6 }, (_, i) => off.infer(request({ input: rowsTensor(1, 16, i) })));
    await held.queued(off, 5);
    held.release();
    await Promise.all(all);
    expect(leases.batches.map((b) => b.rows)).toEqual([1, 1, 1, 1, 1, 1]);

    const preferred = new RecordingLeases(mlp);
    const batcher = new DynamicBatcher({ leases: preferred, policyFor: () => policy({ preferredBatchSizes: [4] }) });
    const held2 = holdFirstBatch(preferred);
    const more = Array.from({ length: 11 }, (_, i) => batcher.infer(request({ input: rowsTensor(1, 16, i) })));
    await held2.queued(batcher, 10);
    held2.release();
    await Promise.all(more);
    expect(preferred.batches.map((b) => b.rows)).toEqual([1, 4, 4, 2]);
  });
});

describe('merge buffers', () => {
  it('are handed back by the worker pool and reused by the next batch of that size', async () => {
    const pool = new WorkerPoolRuntime({ workers: 1 });
    try {
      const session = await pool.load(await folder.write('mlp-pool.onnx', mlpModel([16, 32, 8])));
      const leases = new RecordingLeases(session);
      const batcher = new DynamicBatcher({ leases, policyFor: () => policy() });
      for (let round = 0; round < 3; round++) {
        const held = holdFirstBatch(leases);
        const all = Array.from({ length: 9 }, (_, i) => batcher.infer(request({ input: rowsTensor(1, 16, i) })));
        await held.queued(batcher, 8);
        held.release();
        await Promise.all(all);
      }
      // Each round: a lone batch, then one merged batch of 8 rows; rounds 2 and 3 reuse round 1's buffer.
      expect(leases.batches.map((b) => b.rows)).toEqual([1, 8, 1, 8, 1, 8]);
      expect(batcher.pool.stats()).toMatchObject({ allocated: 1, reused: 2 });
    } finally {
      await pool.close();
    }
  });
});

/** Holds the first batch that reaches the session until release(), so the rest queue behind it. */
function holdFirstBatch(leases: RecordingLeases) {
  let open!: () => void;
  let started!: () => void;
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  const gate = new Promise<void>((resolve) => (open = resolve));
  let first = true;
  const originalAcquire = leases.acquire.bind(leases);
  leases.acquire = (model, version) => {
    const lease = originalAcquire(model, version);
    if (!first) return lease;
    first = false;
    const run = lease.session.run;
    return {
      ...lease,
      session: {
        ...lease.session,
        signature: lease.session.signature,
        run: async (inputs, names, options) => {
          started();
          await gate;
          return run(inputs, names);
        },
      },
    };
  };
  return {
    started: startedPromise,
    release: () => open(),
    async queued(batcher: DynamicBatcher, count: number) {
      await startedPromise;
      await eventually(() => batcher.queued('m', 1) >= count, 10_000, () => `${count} queued (${batcher.queued('m', 1)} so far)`);
    },
  };
}

