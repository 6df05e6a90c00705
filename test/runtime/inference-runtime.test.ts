/**
 * The InferenceRuntime contract, held against both real implementations: the same model files,
 * the same answers, the same failures.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError, type SwitchyardError } from '../../src/errors.js';
import type { RuntimeFailureReason } from '../../src/runtime/runtime-errors.js';
import { DATATYPES, TYPED_ARRAY_OF, type Datatype, type Tensor, type TensorData } from '../../src/tensor.js';
import { buildLinearModel } from '../../tools/model-builder/index.js';
import { rejectionOf } from '../support/errors.js';
import { identityModel, integerRows, linearOutput, multiIoModel } from '../support/models.js';
import { RUNTIMES, type RuntimeCase } from '../support/runtimes.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

const LINEAR = { inputSize: 4, outputSize: 3, scale: 1, bias: 0.5, seed: 7 } as const;

let folder: TempDir;
let linearPath: string;
let multiIoPath: string;

beforeAll(async () => {
  folder = await tempDir('runtime');
  linearPath = await folder.write('linear.onnx', buildLinearModel(LINEAR));
  multiIoPath = await folder.write('multi-io.onnx', multiIoModel());
});

function fp32(shape: number[], data: Float32Array): Tensor {
  return { datatype: 'FP32', shape, data };
}

async function expectFailure(promise: Promise<unknown>, code: string, reason: RuntimeFailureReason): Promise<SwitchyardError> {
  const failure = await rejectionOf(promise);
  expect(failure.code).toBe(code);
  expect(failure.details).toMatchObject({ reason });
  return failure;
}

/** Three elements of each datatype, chosen to hit edges (sign bits, > 2^53, empty and non-ASCII strings). */
function sampleData(datatype: Datatype): TensorData {
  switch (datatype) {
    case 'BYTES':
      return ['', 'héllo', 'x'.repeat(300)];
    case 'BOOL':
      return new Uint8Array([1, 0, 1]);
    case 'FP16':
      return new Uint16Array([0x3c00, 0xc000, 0x7bff]); // 1, -2, 65504
    case 'INT64':
      return new BigInt64Array([-(2n ** 62n), 0n, 2n ** 53n + 1n]);
    case 'UINT64':
      return new BigUint64Array([0n, 2n ** 64n - 1n, 2n ** 53n + 1n]);
    default: {
      const Constructor = TYPED_ARRAY_OF[datatype] as unknown as { from(values: number[]): TensorData };
      const signed = datatype.startsWith('INT') || datatype.startsWith('FP');
      return Constructor.from(signed ? [-5, 0, 7] : [0, 5, 250]);
    }
  }
}

describe.each(RUNTIMES)('$label', ({ create }) => {
  let runtime: ReturnType<RuntimeCase['create']>;

  beforeAll(() => {
    runtime = create();
  });

  afterAll(async () => {
    await runtime.close();
  });

  it('reports the model signature with -1 for dynamic dims', async () => {
    const session = await runtime.load(linearPath);
    expect(session.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 3] }],
    });
    await session.release();

    const named = await runtime.load(await folder.write('named-dims.onnx', identityModel('INT32', ['rows', 2, 'cols'])));
    expect(named.signature.inputs).toEqual([{ name: 'input', datatype: 'INT32', shape: [-1, 2, -1] }]);
    await named.release();
  });

  it('computes the linear model exactly', async () => {
    const session = await runtime.load(linearPath);
    const input = integerRows(2, 4, 0);
    const outputs = await session.run({ input: fp32([2, 4], input.slice()) });
    expect(Object.keys(outputs)).toEqual(['output']);
    expect(outputs.output!.datatype).toBe('FP32');
    expect(outputs.output!.shape).toEqual([2, 3]);
    expect(Array.from(outputs.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, input)));
    await session.release();
  });

  it('answers each of many concurrent runs with its own result', async () => {
    const session = await runtime.load(linearPath);
    const inputs = Array.from({ length: 64 }, (_, i) => integerRows(1 + (i % 5), 4, i));
    const results = await Promise.all(inputs.map((input) => session.run({ input: fp32([input.length / 4, 4], input.slice()) })));
    results.forEach((outputs, i) => {
      expect(outputs.output!.shape).toEqual([inputs[i]!.length / 4, 3]);
      expect(Array.from(outputs.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, inputs[i]!)));
    });
    await session.release();
  });

  it('round-trips INT64, BOOL and BYTES through the multi-io model, and honours outputNames', async () => {
    const session = await runtime.load(multiIoPath);
    expect(session.signature.inputs.map((input) => input.datatype)).toEqual(['FP32', 'INT64', 'BOOL', 'BYTES']);
    const inputs = (): Record<string, Tensor> => ({
      x: fp32([2, 4], new Float32Array([1, 2, 3, 4, 0.5, 0.5, 0.5, 0.5])),
      ids: { datatype: 'INT64', shape: [2, 3], data: new BigInt64Array([0n, -1n, 2n ** 40n, 5n, 6n, 2n ** 62n]) },
      mask: { datatype: 'BOOL', shape: [2, 3], data: new Uint8Array([1, 0, 0, 0, 1, 1]) },
      text: { datatype: 'BYTES', shape: [2, 2], data: ['a', 'ünïcode', '', 'last'] },
    });
    const outputs = await session.run(inputs());
    expect(outputs.sum).toEqual({ datatype: 'FP32', shape: [2, 1], data: new Float32Array([10, 2]) });
    expect(outputs.ids_plus_one).toEqual({
      datatype: 'INT64',
      shape: [2, 3],
      data: new BigInt64Array([1n, 0n, 2n ** 40n + 1n, 6n, 7n, 2n ** 62n + 1n]),
    });
    expect(outputs.mask_not).toEqual({ datatype: 'BOOL', shape: [2, 3], data: new Uint8Array([0, 1, 1, 1, 0, 0]) });
    expect(outputs.text_copy).toEqual({ datatype: 'BYTES', shape: [2, 2], data: ['a', 'ünïcode', '', 'last'] });

    const only = await session.run(inputs(), ['mask_not']);
    expect(Object.keys(only)).toEqual(['mask_not']);
    await session.release();
  });

  it.each(DATATYPES)('round-trips %s through an Identity model', async (datatype) => {
    const session = await runtime.load(await folder.write(`identity-${datatype}.onnx`, identityModel(datatype, [-1, 3])));
    expect(session.signature.outputs).toEqual([{ name: 'output', datatype, shape: [-1, 3] }]);
    const outputs = await session.run({ input: { datatype, shape: [1, 3], data: sampleData(datatype) } });
    expect(outputs.output).toEqual({ datatype, shape: [1, 3], data: sampleData(datatype) });
    await session.release();
  });

  it('rejects a file of random bytes with ModelLoadError carrying onnxruntime\'s reason', async () => {
    const path = await folder.write('random.onnx', randomBytes(2048));
    const error = await runtime.load(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/protobuf parsing failed/i);
  });

  it('rejects a truncated real model with ModelLoadError and keeps serving', async () => {
    const whole = await readFile(linearPath);
    const path = await folder.write('truncated.onnx', whole.subarray(0, Math.floor(whole.length / 2)));
    const error = await runtime.load(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/onnxruntime could not load .*truncated\.onnx: \S+/);

    const missing = await runtime.load(folder.join('missing.onnx')).catch((caught: unknown) => caught);
    expect(missing).toBeInstanceOf(ModelLoadError);
    expect((missing as Error).message).toMatch(/doesn't exist|No such file/i);

    const session = await runtime.load(linearPath);
    const outputs = await session.run({ input: fp32([1, 4], new Float32Array([1, 1, 1, 1])) });
    expect(outputs.output!.shape).toEqual([1, 3]);
    await session.release();
  });

  it('rejects invalid session options with ModelLoadError and applies valid ones', async () => {
    await expect(runtime.load(linearPath, { intraOpThreads: -1 })).rejects.toThrow(ModelLoadError);
    await expect(runtime.load(linearPath, { graphOptimizationLevel: 'max' as 'all' })).rejects.toThrow(/graphOptimizationLevel/);
    const session = await runtime.load(linearPath, { intraOpThreads: 2, interOpThreads: 1, graphOptimizationLevel: 'disabled' });
    const input = integerRows(3, 4, 5);
    const outputs = await session.run({ input: fp32([3, 4], input.slice()) });
    expect(Array.from(outputs.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, input)));
    await session.release();
  });

  it('accepts views, Buffers and SharedArrayBuffer-backed inputs without disturbing the memory around them', async () => {
    const session = await runtime.load(linearPath);
    const backing = integerRows(4, 4, 1);
    const view = await session.run({ input: fp32([2, 4], backing.subarray(4, 12)) });
    expect(Array.from(view.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, backing.slice(4, 12))));
    expect(Array.from(backing)).toEqual(Array.from(integerRows(4, 4, 1)));

    const shared = new Float32Array(new SharedArrayBuffer(32));
    shared.set([1, 2, 3, 4, -1, -2, -3, -4]);
    const fromShared = await session.run({ input: fp32([2, 4], shared) });
    expect(Array.from(fromShared.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, shared.slice())));
    expect(Array.from(shared)).toEqual([1, 2, 3, 4, -1, -2, -3, -4]);
    await session.release();

    const identity = await runtime.load(await folder.write('identity-uint8.onnx', identityModel('UINT8', [-1])));
    const pooled = Buffer.from([7, 8, 9]);
    const echoed = await identity.run({ input: { datatype: 'UINT8', shape: [3], data: pooled } });
    expect(Array.from(echoed.output!.data as Uint8Array)).toEqual([7, 8, 9]);
    expect([...pooled]).toEqual([7, 8, 9]);
    await identity.release();
  });

  it('turns an input onnxruntime refuses into INFERENCE_FAILED with its message', async () => {
    const session = await runtime.load(linearPath);
    const wrongDims = await expectFailure(session.run({ input: fp32([2, 3], new Float32Array(8)) }), 'INFERENCE_FAILED', 'onnxruntime');
    expect(wrongDims.message).toMatch(/size|dims|shape/i);
    const wrongName = await expectFailure(session.run({ other: fp32([1, 4], new Float32Array(4)) }), 'INFERENCE_FAILED', 'onnxruntime');
    expect(wrongName.message).toMatch(/input/);
    const wrongArray = await expectFailure(
      session.run({ input: { datatype: 'FP32', shape: [1, 4], data: new Float64Array(4) } }),
      'INFERENCE_FAILED',
      'onnxruntime',
    );
    expect(wrongArray.message).toContain('Float32Array');
    // The session still serves after refusing bad inputs.
    expect((await session.run({ input: fp32([1, 4], new Float32Array(4)) })).output!.shape).toEqual([1, 3]);
    await session.release();
  });

  it('counts sessions, releases idempotently and rejects runs after release', async () => {
    const before = runtime.stats().sessions;
    const sessions = await Promise.all([runtime.load(linearPath), runtime.load(linearPath), runtime.load(multiIoPath)]);
    expect(runtime.stats().sessions).toBe(before + 3);

    await sessions[0]!.release();
    await sessions[0]!.release();
    await sessions[1]!.release();
    expect(runtime.stats().sessions).toBe(before + 1);

    const error = await expectFailure(sessions[0]!.run({ input: fp32([1, 4], new Float32Array(4)) }), 'INTERNAL', 'session-released');
    expect(error.message).toMatch(/released/);
    await sessions[2]!.release();
    expect(runtime.stats().sessions).toBe(before);
  });

  it('lets runs already started finish when released under them', async () => {
    const session = await runtime.load(linearPath);
    const input = integerRows(2, 4, 3);
    const runs = Array.from({ length: 8 }, () => session.run({ input: fp32([2, 4], input.slice()) }));
    const released = session.release();
    const results = await Promise.all(runs);
    await released;
    for (const outputs of results) {
      expect(Array.from(outputs.output!.data as Float32Array)).toEqual(Array.from(linearOutput(LINEAR, input)));
    }
  });
});

describe.each(RUNTIMES)('$label after close()', ({ create }) => {
  let runtime: ReturnType<RuntimeCase['create']>;

  afterEach(async () => {
    await runtime.close();
  });

  it('is safe to close twice and refuses further work with SHUTTING_DOWN', async () => {
    runtime = create();
    const session = await runtime.load(linearPath);
    await Promise.all([runtime.close(), runtime.close()]);
    await runtime.close();
    expect(runtime.stats().sessions).toBe(0);
    await expectFailure(session.run({ input: fp32([1, 4], new Float32Array(4)) }), 'SHUTTING_DOWN', 'runtime-closed');
    await expectFailure(runtime.load(linearPath), 'SHUTTING_DOWN', 'runtime-closed');
    await session.release();
  });

  it('closes cleanly when nothing was ever loaded', async () => {
    runtime = create();
    await runtime.close();
    await runtime.close();
    expect(runtime.stats().sessions).toBe(0);
  });
});
