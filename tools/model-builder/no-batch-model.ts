/**
 * A model whose input has no batch dimension, so the batcher must run it one request at a time.
 */
import { GraphBuilder } from './graph-builder.js';

/** Input x FP32 [3], output y FP32 [3] = x * 2. */
export function buildNoBatchModel(): Uint8Array {
  return new GraphBuilder({ name: 'no_batch' })
    .input('x', 'FP32', [3])
    .output('y', 'FP32', [3])
    .initializer('two', 'FP32', [], new Float32Array([2]))
    .node('Mul', ['x', 'two'], ['y'])
    .build();
}
