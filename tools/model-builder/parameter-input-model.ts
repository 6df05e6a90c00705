/**
 * Models whose inputs are parameters of an op rather than data: a Resize's `scales`, a Slice's
 * `starts`/`ends`/`axes`/`steps`, a Reshape's target `shape`, an integer Mod's divisor. onnxruntime
 * loads them and answers real requests, but zeros (what a generated warmup sends) are invalid
 * values for those inputs and make the run fail: the models warmup samples exist for.
 */
import { GraphBuilder } from './graph-builder.js';

export type ParameterInputOp = 'resize' | 'slice' | 'reshape' | 'mod';

export const PARAMETER_INPUT_OPS: readonly ParameterInputOp[] = ['resize', 'slice', 'reshape', 'mod'];

/**
 * - resize:  x FP32 [1, 1, 2, 2], scales FP32 [4] -> y FP32 (nearest neighbour; scales of 0 are refused)
 * - slice:   x FP32 [-1, 4], starts/ends/axes/steps INT64 [1] -> y FP32 (a step of 0 is refused)
 * - reshape: x FP32 [-1, 6], shape INT64 [3] -> y FP32 (a 0 copies an input dim; the third does not exist)
 * - mod:     a INT32 [-1, 3], b INT32 [-1, 3] -> y INT32 = a mod b (sign of the divisor, as Python)
 */
export function buildParameterInputModel(op: ParameterInputOp): Uint8Array {
  const graph = new GraphBuilder({ name: `parameter_${op}` });
  switch (op) {
    case 'resize':
      return graph
        .input('x', 'FP32', [1, 1, 2, 2])
        .input('scales', 'FP32', [4])
        .output('y', 'FP32', [-1, -1, -1, -1])
        .node('Resize', ['x', '', 'scales'], ['y'], { mode: 'nearest' })
        .build();
    case 'slice':
      return graph
        .input('x', 'FP32', [-1, 4])
        .input('starts', 'INT64', [1])
        .input('ends', 'INT64', [1])
        .input('axes', 'INT64', [1])
        .input('steps', 'INT64', [1])
        .output('y', 'FP32', [-1, -1])
        .node('Slice', ['x', 'starts', 'ends', 'axes', 'steps'], ['y'])
        .build();
    case 'reshape':
      return graph
        .input('x', 'FP32', [-1, 6])
        .input('shape', 'INT64', [3])
        .output('y', 'FP32', [-1, -1, -1])
        .node('Reshape', ['x', 'shape'], ['y'])
        .build();
    case 'mod':
      return graph
        .input('a', 'INT32', [-1, 3])
        .input('b', 'INT32', [-1, 3])
        .output('y', 'INT32', [-1, 3])
        .node('Mod', ['a', 'b'], ['y'])
        .build();
  }
}
