/**
 * A model with several inputs and outputs of different datatypes, so protocol codecs and input
 * validation are exercised on INT64, BOOL and string tensors, not only FP32.
 */
import { GraphBuilder } from './graph-builder.js';

/**
 * Inputs x FP32 [-1,4], ids INT64 [-1,3], mask BOOL [-1,3], text BYTES [-1,2].
 * Outputs sum = ReduceSum(x, axis 1, keepdims) [-1,1], ids_plus_one [-1,3], mask_not [-1,3],
 * text_copy [-1,2].
 */
export function buildMultiIoModel(): Uint8Array {
  return new GraphBuilder({ name: 'multi_io' })
    .input('x', 'FP32', [-1, 4])
    .input('ids', 'INT64', [-1, 3])
    .input('mask', 'BOOL', [-1, 3])
    .input('text', 'BYTES', [-1, 2])
    .output('sum', 'FP32', [-1, 1])
    .output('ids_plus_one', 'INT64', [-1, 3])
    .output('mask_not', 'BOOL', [-1, 3])
    .output('text_copy', 'BYTES', [-1, 2])
    // Opset 13 moved ReduceSum's axes from an attribute to an input tensor.
    .initializer('sum_axes', 'INT64', [1], new BigInt64Array([1n]))
    .initializer('one', 'INT64', [], new BigInt64Array([1n]))
    .node('ReduceSum', ['x', 'sum_axes'], ['sum'], { keepdims: 1 })
    .node('Add', ['ids', 'one'], ['ids_plus_one'])
    .node('Not', ['mask'], ['mask_not'])
    .node('Identity', ['text'], ['text_copy'])
    .build();
}
