/**
 * Large binary request bodies go to the inference thread as bytes: the body is read into a buffer
 * of its own with the tensor data aligned, the input is a view into it (no copy on the HTTP loop),
 * and that whole buffer is transferred to the worker (detached here) rather than copied. Small
 * bodies, which live in the socket's shared read buffer, are copied and never moved. Answers stay
 * byte-exact, alone and in merged batches. The runtime is the real worker pool, wrapped by a second
 * real InferenceRuntime that records what each run was handed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import type { InferenceRuntime, InferenceSession, RunOptions, RuntimeCloseOptions, SessionOptions } from '../../src/runtime/inference-runtime.js';
import type { Tensor } from '../../src/tensor.js';
import { GraphBuilder } from '../../tools/model-builder/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { identityModel } from '../support/models.js';
import { binaryRequest, parseInferResponse } from './oip-wire.js';

const WIDE = 50_000;

interface SeenInput {
  readonly name: string;
  readonly shape: readonly number[];
  /** The view's offset in its buffer, and that buffer's size, as run() got them. */
  readonly byteOffset: number;
  readonly bufferBytes: number;
  readonly movable: boolean;
  /** The buffer was detached by the run: transferred to the worker, not copied. */
  detached: boolean;
}

/** The worker pool, recording the inputs of every run and whether their buffers moved. */
class RecordingRuntime implements InferenceRuntime {
  readonly runs: SeenInput[][] = [];
  readonly #inner = new WorkerPoolRuntime({ workers: 1 });

  async load(modelPath: string, options?: Partial<SessionOptions>): Promise<InferenceSession> {
    const session = await this.#inner.load(modelPath, options);
    const runs = this.runs;
    return {
      get signature() {
        return session.signature;
      },
      get lostReason() {
        return session.lostReason;
      },
      release: () => session.release(),
      async run(inputs: Readonly<Record<string, Tensor>>, outputNames?: readonly string[], runOptions?: RunOptions) {
        const seen = Object.entries(inputs).map(([name, tensor]): SeenInput => {
          const data = tensor.data as Float32Array;
          return { name, shape: tensor.shape, byteOffset: data.byteOffset, bufferBytes: data.buffer.byteLength, movable: tensor.movable === true, detached: false };
        });
        runs.push(seen);
        const outputs = await session.run(inputs, outputNames, runOptions);
        for (const entry of seen) entry.detached = (inputs[entry.name]!.data as Float32Array).buffer.byteLength === 0;
        return outputs;
      },
    };
  }

  close(options?: RuntimeCloseOptions): Promise<boolean> {
    return this.#inner.close(options);
  }
}

function floats(count: number, seed: number): Float32Array {
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = Math.fround(Math.sin(i * 0.37 + seed) * 1000);
  return data;
}

function infer(gateway: TestGateway, model: string, inputs: Record<string, Float32Array>, rows = 1) {
  const names = Object.keys(inputs);
  const request = binaryRequest(
    {
      inputs: names.map((name) => ({ name, shape: [rows, inputs[name]!.length / rows], datatype: 'FP32', parameters: { binary_data_size: inputs[name]!.byteLength } })),
      parameters: { binary_data_output: true },
    },
    names.map((name) => bytes(inputs[name]!)),
  );
  return gateway.raw('POST', `/v2/models/${model}/versions/1/infer`, request.body, request.headers);
}

function bytes(array: Float32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** a + b, two FP32 inputs of one request (so two views of one body). */
function addModel(width: number): Uint8Array {
  return new GraphBuilder({ name: 'add' })
    .input('a', 'FP32', [-1, width])
    .input('b', 'FP32', [-1, width])
    .output('sum', 'FP32', [-1, width])
    .node('Add', ['a', 'b'], ['sum'])
    .build();
}

describe('binary bodies moved to the inference thread', () => {
  let runtime: RecordingRuntime;
  let gateway: TestGateway;

  afterEach(async () => {
    await gateway?.close();
  });

  const start = async () => {
    runtime = new RecordingRuntime();
    gateway = await startTestGateway({
      runtime,
      models: { wide: { 1: identityModel('FP32', [-1, WIDE]) }, small: { 1: identityModel('FP32', [-1, 3]) }, add: { 1: addModel(WIDE / 2) } },
    });
  };

  it('a large body: the input views the body at an aligned offset and its buffer is transferred, not copied; the answer is byte-exact', async () => {
    await start();
    // Header lengths of every remainder mod 8: the data must land aligned whatever the JSON's length.
    for (let pad = 0; pad < 8; pad++) {
      const data = floats(WIDE, pad);
      const header = { inputs: [{ name: 'input', shape: [1, WIDE], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }], parameters: { binary_data_output: true }, id: 'x'.repeat(pad) };
      const request = binaryRequest(header, [bytes(data)]);
      const response = await gateway.raw('POST', '/v2/models/wide/versions/1/infer', request.body, request.headers);
      expect(response.status).toBe(200);
      expect(parseInferResponse(response).binary.get('output')!.equals(bytes(data))).toBe(true);
      const [input] = runtime.runs.at(-1)!;
      // A view into the body (past its JSON header), not a copy starting at 0 ...
      expect(input!.byteOffset).toBeGreaterThanOrEqual(Number(request.headers['Inference-Header-Content-Length']));
      expect(input!.byteOffset % 8).toBe(0);
      expect(input!.bufferBytes).toBeGreaterThanOrEqual(request.body.length);
      // ... whose whole buffer moved to the worker.
      expect(input!.movable).toBe(true);
      expect(input!.detached).toBe(true);
    }
  });

  it('two inputs of one large body move as one buffer, and the model sees each at its own offset', async () => {
    await start();
    const a = floats(WIDE / 2, 1);
    const b = floats(WIDE / 2, 2);
    const response = await infer(gateway, 'add', { a, b });
    expect(response.status).toBe(200);
    const sum = new Float32Array(WIDE / 2);
    for (let i = 0; i < sum.length; i++) sum[i] = a[i]! + b[i]!;
    expect(parseInferResponse(response).binary.get('sum')!.equals(bytes(sum))).toBe(true);
    const seen = runtime.runs.at(-1)!;
    expect(seen.map((s) => [s.movable, s.detached])).toEqual([
      [true, true],
      [true, true],
    ]);
    expect(seen[1]!.byteOffset - seen[0]!.byteOffset).toBe(a.byteLength);
  });

  it('a small body is copied, never moved: its bytes share the socket read buffer', async () => {
    await start();
    const data = Float32Array.from([1.5, -2.25, 3]);
    const response = await infer(gateway, 'small', { input: data });
    expect(response.status).toBe(200);
    expect(parseInferResponse(response).binary.get('output')!.equals(bytes(data))).toBe(true);
    const [input] = runtime.runs.at(-1)!;
    expect(input!.movable).toBe(false);
    // What may move is a copy of its own (12 bytes), never the read buffer the body sits in.
    if (input!.detached) expect(input!.bufferBytes).toBe(data.byteLength);
    else expect(input!.bufferBytes).toBeGreaterThan(data.byteLength);
  });

  it('large bodies merged into one batch each get their own rows back, byte-exact', async () => {
    await start();
    await gateway.writeModelConfig('wide', { max_batch_size: 8, max_queue_delay_ms: 2000, preferred_batch_sizes: [3] });
    // The config applies once the batching policy is reread: wait for a request that batches alone.
    const datas = [floats(WIDE, 10), floats(WIDE, 11), floats(WIDE, 12)];
    const deadline = Date.now() + 20_000;
    for (;;) {
      runtime.runs.length = 0;
      const responses = await Promise.all(datas.map((data) => infer(gateway, 'wide', { input: data })));
      responses.forEach((response, i) => {
        expect(response.status).toBe(200);
        expect(parseInferResponse(response).binary.get('output')!.equals(bytes(datas[i]!))).toBe(true);
      });
      if (runtime.runs.some((run) => run[0]!.shape[0] === 3) || Date.now() > deadline) break;
    }
    expect(runtime.runs.map((run) => run[0]!.shape[0])).toEqual([3]);
  });
});
