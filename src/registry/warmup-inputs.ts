/**
 * The inputs of a warmup inference: one zero-filled row per input, so the first client request
 * never pays for onnxruntime's lazy initialisation and a model that loads but cannot run is
 * caught before it goes live.
 */
import { elementCount, TYPED_ARRAY_OF, type ModelSignature, type Tensor } from '../tensor.js';

export function warmupInputs(signature: ModelSignature): Record<string, Tensor> {
  const inputs: Record<string, Tensor> = {};
  for (const input of signature.inputs) {
    // Dynamic dims (batch, sequence) become 1: the smallest request a client could send.
    const shape = input.shape.map((dim) => (dim < 0 ? 1 : dim));
    const count = elementCount(shape);
    const data = input.datatype === 'BYTES' ? new Array<string>(count).fill('') : new TYPED_ARRAY_OF[input.datatype](count);
    inputs[input.name] = { datatype: input.datatype, shape, data };
  }
  return inputs;
}
