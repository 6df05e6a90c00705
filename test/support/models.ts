/**
 * The common test models, built with tools/model-builder once per process and cached (the bytes
 * are shared: never write into them), the requests they are sent and the answers they must give,
 * computed independently of onnxruntime.
 */
import type { Datatype } from '../../src/tensor.js';
import {
  buildIdentityModel,
  buildLinearModel,
  buildLookupModel,
  buildMlpModel,
  buildMultiIoModel,
  buildNoBatchModel,
  buildParameterInputModel,
  GraphBuilder,
  linearModelWeights,
  mlpModelWeights,
  type DimSpec,
  type LinearModelOptions,
  type MlpLayerWeights,
  type ParameterInputOp,
} from '../../tools/model-builder/index.js';

/** name -> version -> model.onnx bytes: what a model repository holds. */
export type ModelSet = Record<string, Record<number, Uint8Array>>;

const built = new Map<string, Uint8Array>();

function cached(key: string, build: () => Uint8Array): Uint8Array {
  let bytes = built.get(key);
  if (!bytes) {
    bytes = build();
    built.set(key, bytes);
  }
  return bytes;
}

/** The linear model's shape: 4 inputs, 2 outputs (the README's quick-start model). */
export const LINEAR = { inputSize: 4, outputSize: 2 } as const;

/** One row for the linear model; version `scale` answers [[5 * scale, 1.5 * scale]]. */
export const LINEAR_INPUT = { inputs: { input: [[1, 2, 3, 4]] } };

/** LINEAR_INPUT as an Open Inference Protocol input. */
export const LINEAR_V2_INPUT = { name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] };

/** The linear model (input [-1, 4] -> output [-1, 2]) with every weight times `scale`. */
export function linearModel(scale = 1): Uint8Array {
  return cached(`linear:${scale}`, () => buildLinearModel({ ...LINEAR, scale }));
}

/** Versions 1, 2, ... of the linear model with these scales, e.g. linearVersions(1, 2). */
export function linearVersions(...scales: number[]): Record<number, Uint8Array> {
  return Object.fromEntries(scales.map((scale, i) => [i + 1, linearModel(scale)]));
}

/** What the linear model with `scale` answers for `rows`, in float32 like the model. */
export function linearAnswer(scale: number, rows: readonly (readonly number[])[] = LINEAR_INPUT.inputs.input): number[][] {
  const output = linearOutput({ ...LINEAR, scale }, Float32Array.from(rows.flat()));
  return rows.map((_, r) => Array.from(output.subarray(r * LINEAR.outputSize, (r + 1) * LINEAR.outputSize)));
}

/** input · W + b for any linear model's options, summed in float64 and rounded to float32. */
export function linearOutput(options: LinearModelOptions, input: Float32Array | readonly number[]): Float32Array {
  const { weight, bias } = linearModelWeights(options);
  const rows = input.length / options.inputSize;
  const out = new Float32Array(rows * options.outputSize);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < options.outputSize; j++) {
      let sum = 0;
      for (let i = 0; i < options.inputSize; i++) sum += input[r * options.inputSize + i]! * weight[i * options.outputSize + j]!;
      out[r * options.outputSize + j] = sum + bias[j]!;
    }
  }
  return out;
}

/** Small integers: every product and sum with quarter-step weights is exact in float32. */
export function integerRows(rows: number, width: number, offset: number): Float32Array {
  return Float32Array.from({ length: rows * width }, (_, i) => ((i + offset) % 7) - 3);
}

/** MLP widths by how much work a row costs. */
export const MLP_SIZES = {
  /** For metadata and codec tests: next to nothing. */
  tiny: [8, 16, 3],
  /** About 5 M multiply-adds a row: batches of hundreds of rows keep a worker busy for a while. */
  heavy: [256, 2048, 2048, 256],
  /** About 19 M multiply-adds a row (and a 75 MB file): for work that must outlast a file-system event. */
  heaviest: [256, 4096, 4096, 256],
} as const;

/** An MLP with these layer widths (input first). */
export function mlpModel(sizes: readonly number[] = MLP_SIZES.tiny, seed = 1): Uint8Array {
  return cached(`mlp:${sizes.join('x')}:${seed}`, () => buildMlpModel({ sizes, seed }));
}

/** `rows` deterministic rows of `width` values in [-0.5, 0.5]; every row of every `salt` differs from the others. */
export function mlpRows(rows: number, width = 256, salt = 0): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: width }, (_, i) => 0.5 * Math.sin(i * 0.37 + r * 1.71 + salt * 2.93 + 0.1)));
}

const mlpWeights = new Map<string, MlpLayerWeights[]>();

/**
 * What mlpModel(sizes, seed) answers for `rows`: a float64 forward pass of the float32 inputs
 * (ReLU between layers, none after the last), computed independently of onnxruntime. Compare with
 * a tolerance: onnxruntime sums in float32. Costs what the model does, in JS: check a few rows.
 */
export function mlpAnswer(sizes: readonly number[], seed: number, rows: readonly (readonly number[])[]): number[][] {
  const key = `${sizes.join('x')}:${seed}`;
  let layers = mlpWeights.get(key);
  if (!layers) {
    layers = mlpModelWeights({ sizes, seed });
    mlpWeights.set(key, layers);
  }
  const network = layers;
  return rows.map((row) => {
    let activations: Float64Array = Float64Array.from(row, (value) => Math.fround(value));
    network.forEach(({ weight, bias, fanIn, fanOut }, index) => {
      const out = new Float64Array(fanOut);
      for (let o = 0; o < fanOut; o++) out[o] = bias[o]!;
      for (let i = 0; i < fanIn; i++) {
        const x = activations[i]!;
        if (x === 0) continue;
        for (let o = 0; o < fanOut; o++) out[o] = out[o]! + x * weight[i * fanOut + o]!;
      }
      if (index < network.length - 1) for (let o = 0; o < fanOut; o++) out[o] = Math.max(0, out[o]!);
      activations = out;
    });
    return Array.from(activations);
  });
}

/** x FP32 [-1,4], ids INT64 [-1,3], mask BOOL [-1,3], text BYTES [-1,2] -> sum, ids_plus_one, mask_not, text_copy. */
export function multiIoModel(): Uint8Array {
  return cached('multi_io', () => buildMultiIoModel());
}

/**
 * The tensor metadata multiIoModel must report, written out by hand from the graph in
 * tools/model-builder (not read back from it), for the metadata tests of both protocols.
 */
export const MULTI_IO_SIGNATURE = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 4] },
    { name: 'ids', datatype: 'INT64', shape: [-1, 3] },
    { name: 'mask', datatype: 'BOOL', shape: [-1, 3] },
    { name: 'text', datatype: 'BYTES', shape: [-1, 2] },
  ],
  outputs: [
    { name: 'sum', datatype: 'FP32', shape: [-1, 1] },
    { name: 'ids_plus_one', datatype: 'INT64', shape: [-1, 3] },
    { name: 'mask_not', datatype: 'BOOL', shape: [-1, 3] },
    { name: 'text_copy', datatype: 'BYTES', shape: [-1, 2] },
  ],
};

/** Identity ("input" -> "output") of one datatype and shape; default [-1, 3]. */
export function identityModel(datatype: Datatype, shape: readonly DimSpec[] = [-1, 3]): Uint8Array {
  return cached(`identity:${datatype}:${shape.join(',')}`, () => buildIdentityModel(datatype, shape));
}

/** The repository name of the identity model of a datatype: id_fp32, id_bytes, ... */
export function identityName(datatype: Datatype): string {
  return `id_${datatype.toLowerCase()}`;
}

/** One identity model per datatype, as version 1 of id_<datatype>. */
export function identityModels(datatypes: readonly Datatype[], shape: readonly DimSpec[] = [-1, 3]): ModelSet {
  return Object.fromEntries(datatypes.map((datatype) => [identityName(datatype), { 1: identityModel(datatype, shape) }]));
}

/**
 * index INT64 [-1, 1] -> value FP32 [-1, 1] = table[index] over a table of `size` (lookupValue(i)
 * from tools/model-builder): an index >= size makes onnxruntime refuse the run, so one bad row
 * fails a merged batch while the good rows alone succeed.
 */
export function lookupModel(size = 8): Uint8Array {
  return cached(`lookup:${size}`, () => buildLookupModel({ size }));
}

/** x FP32 [3] -> y = 2x: no batch dimension, so every request runs alone. */
export function noBatchModel(): Uint8Array {
  return cached('no_batch', () => buildNoBatchModel());
}

/**
 * Input [-1, width] reshaped to a fixed [rows, width]: loads, but runs only on exactly `rows`
 * rows. fixedRowsModel(3, 2) fails its one-row warmup; fixedRowsModel(4, 1) warms up and serves
 * one row, and fails in onnxruntime on two.
 */
export function fixedRowsModel(width: number, rows: number): Uint8Array {
  return cached(`fixed-rows:${width}:${rows}`, () =>
    new GraphBuilder({ name: `fixed_rows_${rows}x${width}` })
      .input('input', 'FP32', [-1, width])
      .output('output', 'FP32', [rows, width])
      .initializer('target', 'INT64', [2], BigInt64Array.from([BigInt(rows), BigInt(width)]))
      .node('Reshape', ['input', 'target'], ['output'])
      .build(),
  );
}

/**
 * x FP32 [4] -> y = x + Reshape(six zeros, [4]): the Reshape has only constant inputs, so
 * onnxruntime's graph optimizer (any level but `disabled`) tries to fold it at load, cannot, and
 * says so on stderr ("Exception during constant folding"); the model loads, and every run fails.
 */
export function unfoldableConstantModel(): Uint8Array {
  return cached('unfoldable-constant', () =>
    new GraphBuilder({ name: 'unfoldable_constant' })
      .input('x', 'FP32', [4])
      .output('y', 'FP32', [4])
      .initializer('six', 'FP32', [6], new Float32Array(6))
      .initializer('shape', 'INT64', [1], BigInt64Array.from([4n]))
      .node('Reshape', ['six', 'shape'], ['four'])
      .node('Add', ['x', 'four'], ['y'])
      .build(),
  );
}

/**
 * A model whose inputs are op parameters (tools/model-builder/parameter-input-model.ts): loads,
 * answers real values, and fails in onnxruntime on the zeros of a generated warmup.
 */
export function parameterInputModel(op: ParameterInputOp): Uint8Array {
  return cached(`parameter:${op}`, () => buildParameterInputModel(op));
}
