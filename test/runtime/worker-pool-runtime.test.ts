/**
 * What only the worker pool does: moves tensors between threads by transfer, places sessions on the
 * least-loaded worker, keeps the main thread free during a run, survives a worker dying, and never
 * keeps a process alive on its own.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import type { InferenceRuntime } from '../../src/runtime/inference-runtime.js';
import { WorkerPoolRuntime, type SessionLostEvent } from '../../src/runtime/worker-pool-runtime.js';
import type { Tensor } from '../../src/tensor.js';
import { buildLinearModel } from '../../tools/model-builder/index.js';
import { rejectionOf } from '../support/errors.js';
import { identityModel, integerRows, linearOutput, mlpModel } from '../support/models.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

const LINEAR = { inputSize: 4, outputSize: 3, bias: -1, seed: 3 } as const;
const MLP_SIZES = [512, 2048, 2048, 512];

let folder: TempDir;
let linearPath: string;
let uint8Path: string;
let mlpPath: string;
let runtime: WorkerPoolRuntime;

beforeAll(async () => {
  folder = await tempDir('worker-pool');
  linearPath = await folder.write('linear.onnx', buildLinearModel(LINEAR));
  uint8Path = await folder.write('identity-uint8.onnx', identityModel('UINT8', [-1]));
  mlpPath = await folder.write('mlp.onnx', mlpModel(MLP_SIZES, 2));
});

afterEach(async () => {
  await runtime?.close();
});

function linearInput(rows: number, offset = 0): Record<string, Tensor> {
  return { input: { datatype: 'FP32', shape: [rows, 4], data: integerRows(rows, 4, offset) } };
}

describe('WorkerPoolRuntime tensor transfer', () => {
  it('detaches whole input buffers and hands back outputs that own theirs', async () => {
    runtime = new WorkerPoolRuntime({ workers: 1 });
    const session = await runtime.load(linearPath);
    const input = { datatype: 'FP32', shape: [3, 4], data: integerRows(3, 4, 1) } satisfies Tensor;
    const expected = linearOutput(LINEAR, input.data.slice());
    const outputs = await session.run({ input });
    expect(input.data.length).toBe(0);
    expect((input.data as Float32Array).buffer.byteLength).toBe(0);
    const output = outputs.output!.data as Float32Array;
    expect(Array.from(output)).toEqual(Array.from(expected));
    expect(output.byteOffset).toBe(0);
    expect(output.buffer.byteLength).toBe(output.byteLength);
  });

  it('copies views into larger buffers instead of detaching memory the caller did not hand over', async () => {
    runtime = new WorkerPoolRuntime({ workers: 1 });
    const linear = await runtime.load(linearPath);
    const backing = integerRows(4, 4, 2);
    const view = backing.subarray(4, 12);
    const outputs = await linear.run({ input: { datatype: 'FP32', shape: [2, 4], data: view } });
    expect(backing.byteLength).toBe(64);
    expect(view.length).toBe(8);
    expect(Array.from(outputs.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, backing.slice(4, 12))));

    // Buffer.from() carves small buffers out of Node's shared 8 KiB pool.
    const identity = await runtime.load(uint8Path);
    const pooled = Buffer.from([7, 8, 9]);
    const neighbour = Buffer.from([1, 2, 3]);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
    const echoed = await identity.run({ input: { datatype: 'UINT8', shape: [3], data: pooled } });
    expect(Array.from(echoed.output!.data as Uint8Array)).toEqual([7, 8, 9]);
    expect([...pooled]).toEqual([7, 8, 9]);
    expect([...neighbour]).toEqual([1, 2, 3]);
  });

  it('copies SharedArrayBuffer-backed inputs, which cannot be transferred, and leaves them intact', async () => {
    runtime = new WorkerPoolRuntime({ workers: 1 });
    const session = await runtime.load(linearPath);
    const shared = new Float32Array(new SharedArrayBuffer(16));
    shared.set([1, 2, 3, 4]);
    const outputs = await session.run({ input: { datatype: 'FP32', shape: [1, 4], data: shared } });
    expect(Array.from(shared)).toEqual([1, 2, 3, 4]);
    expect(Array.from(outputs.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, new Float32Array([1, 2, 3, 4]))));
  });

  it('rejects, rather than throws, when an input is not a tensor', async () => {
    runtime = new WorkerPoolRuntime({ workers: 1 });
    const session = await runtime.load(linearPath);
    const error = await rejectionOf(session.run({ input: undefined as unknown as Tensor }));
    expect(error.code).toBe('INFERENCE_FAILED');
  });
});

describe('WorkerPoolRuntime placement and counters', () => {
  it('starts threads as loads need them and puts each session on the worker with the fewest', async () => {
    runtime = new WorkerPoolRuntime({ workers: 2 });
    expect(runtime.stats().workers).toBe(0);
    const [s1, s2, s3, s4] = [await runtime.load(linearPath), await runtime.load(linearPath), await runtime.load(linearPath), await runtime.load(linearPath)];
    expect(runtime.stats()).toMatchObject({ workers: 2, sessions: 4, sessionsPerWorker: [2, 2] });

    // s1 and s3 went to the first worker; freeing both makes it the emptier one.
    await Promise.all([s1!.release(), s3!.release()]);
    expect(runtime.stats()).toMatchObject({ sessions: 2, sessionsPerWorker: [0, 2], sessionsReleased: 2 });
    const s5 = await runtime.load(linearPath);
    expect(runtime.stats().sessionsPerWorker).toEqual([1, 2]);

    // Concurrent loads are counted as they are placed, so they spread too.
    await Promise.all([runtime.load(linearPath), runtime.load(linearPath), runtime.load(linearPath)]);
    expect(runtime.stats().sessionsPerWorker).toEqual([3, 3]);

    await Promise.all([s2!.run(linearInput(1)), s4!.run(linearInput(2)), s5.run(linearInput(3))]);
    expect(runtime.stats()).toMatchObject({ runs: 3, inFlight: 0 });
  });

  it('rejects a worker count that is not a positive integer', () => {
    expect(() => new WorkerPoolRuntime({ workers: 0 })).toThrow(RangeError);
    expect(() => new WorkerPoolRuntime({ workers: 1.5 })).toThrow(RangeError);
  });
});

describe('the main thread during a run', () => {
  /** setImmediate turns the calling thread completes while one MLP run is awaited. */
  async function turnsDuringRun(candidate: InferenceRuntime): Promise<number> {
    const session = await candidate.load(mlpPath);
    const input = (): Tensor => ({ datatype: 'FP32', shape: [64, 512], data: new Float32Array(64 * 512).fill(0.5) });
    await session.run({ input: input() }); // warm-up: allocations and kernel selection
    let turns = 0;
    let done = false;
    const spin = (): void => {
      if (done) return;
      turns++;
      setImmediate(spin);
    };
    const run = session.run({ input: input() });
    setImmediate(spin);
    const outputs = await run;
    done = true;
    expect(outputs.output!.shape).toEqual([64, 512]);
    await session.release();
    return turns;
  }

  it('stays responsive with the worker pool and stalls in process', async () => {
    const inProcess = new InProcessRuntime();
    const stalled = await turnsDuringRun(inProcess);
    await inProcess.close();
    runtime = new WorkerPoolRuntime({ workers: 1 });
    const free = await turnsDuringRun(runtime);
    // In process the run itself occupies the thread: a couple of turns around it at most.
    expect(stalled).toBeLessThanOrEqual(3);
    expect(free).toBeGreaterThan(50);
  });
});

describe('WorkerPoolRuntime when a worker dies', () => {
  it('rejects the runs it held, reports its sessions lost once, and the next load replaces it', async () => {
    const lost: SessionLostEvent[] = [];
    runtime = new WorkerPoolRuntime({ workers: 2, onSessionLost: (event) => lost.push(event) });
    const doomed = await runtime.load(linearPath);
    const survivor = await runtime.load(uint8Path);
    expect(runtime.stats().sessionsPerWorker).toEqual([1, 1]);

    runtime.simulateWorkerCrash(doomed);
    const inFlight = await Promise.all([rejectionOf(doomed.run(linearInput(1))), rejectionOf(doomed.run(linearInput(2)))]);
    for (const error of inFlight) {
      expect(error.code).toBe('INFERENCE_FAILED');
      expect(error.details).toMatchObject({ reason: 'worker-exited', modelPath: linearPath });
      expect(error.message).toContain('simulated worker crash');
    }
    expect(lost).toEqual([{ session: doomed, modelPath: linearPath, reason: expect.stringContaining('simulated worker crash') }]);
    expect(doomed.lostReason).toContain('simulated worker crash');
    expect(survivor.lostReason).toBeUndefined();
    expect(runtime.stats()).toMatchObject({ workers: 1, sessions: 1, workerExits: 1, sessionsLost: 1, inFlight: 0 });

    const later = await rejectionOf(doomed.run(linearInput(1)));
    expect(later.code).toBe('VERSION_NOT_READY');
    expect(later.details).toMatchObject({ reason: 'session-lost' });
    expect(later.message).toMatch(/lost .*must be loaded again/);
    await doomed.release();
    expect(runtime.stats().sessionsReleased).toBe(0);

    const echoed = await survivor.run({ input: { datatype: 'UINT8', shape: [2], data: new Uint8Array([4, 2]) } });
    expect(Array.from(echoed.output!.data as Uint8Array)).toEqual([4, 2]);

    const reloaded = await runtime.load(linearPath);
    expect(runtime.stats()).toMatchObject({ workers: 2, sessions: 2 });
    const outputs = await reloaded.run(linearInput(2, 5));
    expect(Array.from(outputs.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, integerRows(2, 4, 5))));
    expect(lost).toHaveLength(1);
  });
});

describe('WorkerPoolRuntime close()', () => {
  it('rejects runs still in flight with SHUTTING_DOWN and is safe to call again', async () => {
    runtime = new WorkerPoolRuntime({ workers: 1 });
    const session = await runtime.load(mlpPath);
    const running = session.run({ input: { datatype: 'FP32', shape: [64, 512], data: new Float32Array(64 * 512) } });
    // Listen before closing: close() answers the run at once, then waits for its thread.
    const rejected = rejectionOf(running);
    await Promise.all([runtime.close(), runtime.close()]);
    const error = await rejected;
    expect(error.code).toBe('SHUTTING_DOWN');
    expect(runtime.stats()).toMatchObject({ workers: 0, sessions: 0, inFlight: 0 });
    await runtime.close();
  });

  it('never keeps a process alive by itself, and keeps it alive while a run is pending', async () => {
    const script = folder.join('no-close.mts');
    const poolModule = new URL('../../src/runtime/worker-pool-runtime.ts', import.meta.url).href;
    await writeFile(
      script,
      [
        `import { WorkerPoolRuntime } from ${JSON.stringify(poolModule)};`,
        `const runtime = new WorkerPoolRuntime({ workers: 2 });`,
        `const session = await runtime.load(${JSON.stringify(linearPath)});`,
        `const outputs = await session.run({ input: { datatype: 'FP32', shape: [1, 4], data: new Float32Array([1, 1, 1, 1]) } });`,
        `console.log(JSON.stringify(Array.from(outputs.output.data)));`,
        // No close(): the process must still end once there is nothing left to do.
      ].join('\n'),
    );
    const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual(Array.from(linearOutput(LINEAR, new Float32Array([1, 1, 1, 1]))));
  });
});
