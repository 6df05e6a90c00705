/**
 * The linear demo model: output = input · W + b. Versions built with different `scale` give
 * visibly different answers for the same request, which is what routing and reload demos need.
 */
import { GraphBuilder } from './graph-builder.js';
import { seededRandom } from './seeded-random.js';

export interface LinearModelOptions {
  readonly inputSize: number;
  readonly outputSize: number;
  /** Multiplies every weight. Default 1. */
  readonly scale?: number;
  /** Added to every output. Default 0. */
  readonly bias?: number;
  /** Picks the weights. Default 1. */
  readonly seed?: number;
}

export interface LinearModelWeights {
  /** Row-major [inputSize, outputSize]. */
  readonly weight: Float32Array;
  /** [outputSize]. */
  readonly bias: Float32Array;
}

// Quarter steps, never zero: exact in float32 and easy to check by hand in a curl demo.
const WEIGHT_STEPS = [-1, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1] as const;

/** The exact weights buildLinearModel writes for these options. */
export function linearModelWeights(options: LinearModelOptions): LinearModelWeights {
  const { inputSize, outputSize, scale = 1, bias = 0, seed = 1 } = options;
  const random = seededRandom(seed);
  const weight = new Float32Array(inputSize * outputSize);
  for (let i = 0; i < weight.length; i++) {
    weight[i] = scale * WEIGHT_STEPS[Math.floor(random() * WEIGHT_STEPS.length)]!;
  }
  return { weight, bias: new Float32Array(outputSize).fill(bias) };
}

export function buildLinearModel(options: LinearModelOptions): Uint8Array {
  const { inputSize, outputSize } = options;
  const { weight, bias } = linearModelWeights(options);
  return new GraphBuilder({ name: 'linear' })
    .input('input', 'FP32', [-1, inputSize])
    .output('output', 'FP32', [-1, outputSize])
    .initializer('W', 'FP32', [inputSize, outputSize], weight)
    .initializer('b', 'FP32', [outputSize], bias)
    .node('MatMul', ['input', 'W'], ['xw'])
    .node('Add', ['xw', 'b'], ['output'])
    .build();
}
