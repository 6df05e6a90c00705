/**
 * Conversion between the gateway's Tensor and onnxruntime's, and from onnxruntime's value metadata
 * to the gateway's TensorInfo. Numeric data is never copied: both sides wrap the same typed array.
 */
import { Tensor as OrtTensor, type InferenceSession as OrtInferenceSession } from 'onnxruntime-node';
import { TYPED_ARRAY_OF, type Datatype, type ModelSignature, type Tensor, type TensorData, type TensorInfo } from '../tensor.js';

type OrtType = OrtTensor.Type;

/** onnxruntime's tensor type name for each of our datatypes. */
export const ORT_TYPE_OF: Readonly<Record<Datatype, OrtType>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const DATATYPE_OF: ReadonlyMap<string, Datatype> = new Map(
  (Object.entries(ORT_TYPE_OF) as [Datatype, OrtType][]).map(([datatype, ortType]) => [ortType, datatype]),
);

/** The OIP datatype for an onnxruntime element type; throws for types the gateway cannot carry (int4, uint4, ...). */
export function datatypeOfOrtType(ortType: string, what = 'tensor'): Datatype {
  const datatype = DATATYPE_OF.get(ortType);
  if (datatype === undefined) {
    throw new TypeError(`${what} has onnxruntime element type '${ortType}', which Switchyard does not support`);
  }
  return datatype;
}

/** Wraps our tensor for onnxruntime without copying its data. */
export function toOrtTensor(name: string, tensor: Tensor): OrtTensor {
  const { datatype, shape, data } = tensor;
  if (datatype === 'BYTES') {
    if (!Array.isArray(data)) throw new TypeError(`input '${name}' is BYTES but its data is not a string array`);
    return new OrtTensor('string', data, shape);
  }
  const expected = TYPED_ARRAY_OF[datatype];
  if (!(data instanceof expected)) {
    throw new TypeError(`input '${name}' is ${datatype} but its data is not a ${expected.name}`);
  }
  const numeric = data as Exclude<TensorData, string[]>;
  // onnxruntime-node refuses typed arrays over a SharedArrayBuffer ("Invalid argument").
  const owned = numeric.buffer instanceof ArrayBuffer ? numeric : new (expected as unknown as new (source: typeof numeric) => typeof numeric)(numeric);
  const ortTensor = new OrtTensor(ORT_TYPE_OF[datatype], owned, shape);
  // Where Float16Array exists (Node 24), onnxruntime-common turns a float16 Uint16Array into a
  // Float16Array view, and onnxruntime-node 1.30's binding then sizes it as 0 bytes ("not enough
  // space: expected N, got 0", microsoft/onnxruntime PR 32323, open). The binding takes the raw
  // half bits in a Uint16Array, so hand it back the array we were given (same buffer, no copy).
  if (datatype === 'FP16' && ortTensor.data !== owned) (ortTensor as unknown as { cpuData: unknown }).cpuData = owned;
  return ortTensor;
}

/** Unwraps an onnxruntime output without copying its data. */
export function fromOrtTensor(name: string, value: OrtTensor): Tensor {
  const datatype = datatypeOfOrtType(value.type, `output '${name}'`);
  const raw = value.data as unknown;
  let data: TensorData;
  if (datatype === 'FP16' && !(raw instanceof Uint16Array)) {
    // Where Float16Array exists onnxruntime returns one; keep our contract of raw half bits.
    const view = raw as ArrayBufferView & { length: number };
    data = new Uint16Array(view.buffer, view.byteOffset, view.length);
  } else {
    data = raw as TensorData;
  }
  return { datatype, shape: value.dims.slice(), data };
}

/** Metadata for one input or output; symbolic or unknown dims become -1. */
export function tensorInfoOf(metadata: OrtInferenceSession.ValueMetadata): TensorInfo {
  if (!metadata.isTensor) {
    throw new TypeError(`'${metadata.name}' is not a tensor (sequences and maps are not supported)`);
  }
  const datatype = datatypeOfOrtType(metadata.type, `'${metadata.name}'`);
  const shape = metadata.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1));
  return { name: metadata.name, datatype, shape };
}

export function signatureOf(session: Pick<OrtInferenceSession, 'inputMetadata' | 'outputMetadata'>): ModelSignature {
  return {
    inputs: session.inputMetadata.map(tensorInfoOf),
    outputs: session.outputMetadata.map(tensorInfoOf),
  };
}

/** Wraps a whole feed; names are checked by onnxruntime itself. */
export function toOrtFeeds(inputs: Readonly<Record<string, Tensor>>): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const name of Object.keys(inputs)) feeds[name] = toOrtTensor(name, inputs[name]!);
  return feeds;
}

export function fromOrtResults(results: Readonly<Record<string, OrtTensor>>): Record<string, Tensor> {
  const outputs: Record<string, Tensor> = {};
  for (const name of Object.keys(results)) outputs[name] = fromOrtTensor(name, results[name]!);
  return outputs;
}
