/**
 * A multi-layer perceptron with real compute per row, for benchmarks and batching tests where a
 * toy linear model would measure only overhead. Weights are uniform in ±1/sqrt(fan_in) so
 * activations stay near unit scale through any depth.
 */
import { GraphBuilder } from './graph-builder.js';
import { seededRandom } from './seeded-random.js';

export interface MlpModelOptions {
  /** Layer widths, input first, output last, e.g. [256, 1024, 1024, 256]. At least two. */
  readonly sizes: readonly number[];
  /** Picks the weights. Default 1. */
  readonly seed?: number;
}

export interface MlpLayerWeights {
  /** Row-major [fanIn, fanOut]. */
  readonly weight: Float32Array;
  /** [fanOut]. */
  readonly bias: Float32Array;
  readonly fanIn: number;
  readonly fanOut: number;
}

/** The exact weights buildMlpModel writes, one entry per layer. */
export function mlpModelWeights(options: MlpModelOptions): MlpLayerWeights[] {
  const { sizes, seed = 1 } = options;
  if (sizes.length < 2 || sizes.some((size) => !Number.isInteger(size) || size < 1)) {
    throw new RangeError(`sizes must be at least two positive integers, got [${sizes.join(',')}]`);
  }
  const random = seededRandom(seed);
  const layers: MlpLayerWeights[] = [];
  for (let layer = 0; layer + 1 < sizes.length; layer++) {
    const fanIn = sizes[layer]!;
    const fanOut = sizes[layer + 1]!;
    const limit = 1 / Math.sqrt(fanIn);
    const uniform = (): number => (random() * 2 - 1) * limit;
    const weight = new Float32Array(fanIn * fanOut);
    for (let i = 0; i < weight.length; i++) weight[i] = uniform();
    const bias = new Float32Array(fanOut);
    for (let i = 0; i < bias.length; i++) bias[i] = uniform();
    layers.push({ weight, bias, fanIn, fanOut });
  }
  return layers;
}

export function buildMlpModel(options: MlpModelOptions): Uint8Array {
  const layers = mlpModelWeights(options);
  const sizes = options.sizes;
  const graph = new GraphBuilder({ name: 'mlp' })
    .input('input', 'FP32', [-1, sizes[0]!])
    .output('output', 'FP32', [-1, sizes[sizes.length - 1]!]);
  let current = 'input';
  layers.forEach(({ weight, bias, fanIn, fanOut }, index) => {
    const last = index === layers.length - 1;
    graph
      .initializer(`W${index}`, 'FP32', [fanIn, fanOut], weight)
      .initializer(`b${index}`, 'FP32', [fanOut], bias)
      .node('MatMul', [current, `W${index}`], [`matmul${index}`])
      .node('Add', [`matmul${index}`, `b${index}`], [last ? 'output' : `pre${index}`]);
    if (!last) graph.node('Relu', [`pre${index}`], [`hidden${index}`]);
    current = `hidden${index}`;
  });
  return graph.build();
}
