/**
 * The parameter-input models, judged by onnxruntime itself through the gateway's in-process
 * runtime: each loads, answers real parameters correctly, and fails on the generated warmup's
 * zeros (warmupInputs), which is what makes them the test models of best-effort warmup.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { warmupInputs } from '../../src/registry/warmup-inputs.js';
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import type { Tensor } from '../../src/tensor.js';
import { buildParameterInputModel, PARAMETER_INPUT_OPS, type ParameterInputOp } from '../../tools/model-builder/index.js';
import { tempDir } from '../support/temp-dir.js';

const runtime = new InProcessRuntime();
afterAll(() => runtime.close());

const f32 = (shape: number[], data: number[]): Tensor => ({ datatype: 'FP32', shape, data: Float32Array.from(data) });
const i64 = (data: number[]): Tensor => ({ datatype: 'INT64', shape: [data.length], data: BigInt64Array.from(data.map(BigInt)) });
const i32 = (shape: number[], data: number[]): Tensor => ({ datatype: 'INT32', shape, data: Int32Array.from(data) });

const CASES: Record<ParameterInputOp, { inputs: Record<string, Tensor>; shape: number[]; y: number[]; zeros: RegExp }> = {
  resize: {
    inputs: { x: f32([1, 1, 2, 2], [1, 2, 3, 4]), scales: f32([4], [1, 1, 2, 2]) },
    shape: [1, 1, 4, 4],
    y: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4],
    zeros: /Scale value should be greater than 0/,
  },
  slice: {
    inputs: { x: f32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]), starts: i64([1]), ends: i64([3]), axes: i64([1]), steps: i64([1]) },
    shape: [2, 2],
    y: [2, 3, 6, 7],
    zeros: /'step' value cannot be 0/,
  },
  reshape: {
    inputs: { x: f32([1, 6], [1, 2, 3, 4, 5, 6]), shape: i64([3, 1, 2]) },
    shape: [3, 1, 2],
    y: [1, 2, 3, 4, 5, 6],
    zeros: /dimension with value zero exceeds/,
  },
  mod: {
    inputs: { a: i32([1, 3], [7, -7, 8]), b: i32([1, 3], [3, 3, -3]) },
    shape: [1, 3],
    y: [1, 2, -1],
    zeros: /Integer modulo by zero/,
  },
};

describe.each(PARAMETER_INPUT_OPS)('buildParameterInputModel(%s)', (op) => {
  it('answers real parameters and fails on the zeros of a generated warmup', async () => {
    const dir = await tempDir('parameter-model');
    const session = await runtime.load(await dir.write(`${op}.onnx`, buildParameterInputModel(op)));
    try {
      const { y } = await session.run(CASES[op].inputs);
      expect(y!.shape).toEqual(CASES[op].shape);
      expect(Array.from(y!.data as ArrayLike<number>)).toEqual(CASES[op].y);
      await expect(session.run(warmupInputs(session.signature))).rejects.toThrow(CASES[op].zeros);
    } finally {
      await session.release();
    }
  });
});
