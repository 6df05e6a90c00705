/**
 * An Identity model for any datatype and shape: lets codec and validation tests round-trip every
 * datatype through a real session.
 */
import type { Datatype } from '../../src/tensor.js';
import { GraphBuilder, type DimSpec } from './graph-builder.js';

/** Input "input", output "output", both `datatype` with `shape` (-1 or a name for dynamic dims). */
export function buildIdentityModel(datatype: Datatype, shape: readonly DimSpec[]): Uint8Array {
  return new GraphBuilder({ name: `identity_${datatype.toLowerCase()}` })
    .input('input', datatype, shape)
    .output('output', datatype, shape)
    .node('Identity', ['input'], ['output'])
    .build();
}
