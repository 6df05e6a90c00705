/**
 * Tensors as the whole gateway sees them, independent of onnxruntime and of any wire format.
 *
 * Datatype names are the Open Inference Protocol's (the names Triton and KServe clients use), so
 * metadata, validation errors and protocol codecs all speak one vocabulary.
 */

export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

export type Datatype = (typeof DATATYPES)[number];

/**
 * Element storage per datatype. BOOL is one byte per element (0/1), FP16 the raw IEEE half bits,
 * BYTES an array of strings (onnxruntime-node's string tensors).
 */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

export interface Tensor {
  readonly datatype: Datatype;
  /** Concrete dims, row-major. */
  readonly shape: readonly number[];
  readonly data: TensorData;
  /**
   * The whole buffer under `data` is the tensor's owner's to give away, though `data` may view
   * only part of it (a request body read into a buffer of its own, see src/http/request-body.ts):
   * the runtime may move (transfer) that buffer to its thread instead of copying the view, after
   * which nothing reads it here. Default false: a view is copied, never moved.
   */
  readonly movable?: boolean;
}

/** A model input or output as metadata: `-1` marks a dynamic dimension. */
export interface TensorInfo {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

export interface ModelSignature {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
}

type TypedArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | BigUint64ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

/** The typed array each fixed-size datatype is stored in; BYTES has none (strings). */
export const TYPED_ARRAY_OF: Readonly<Record<Exclude<Datatype, 'BYTES'>, TypedArrayConstructor>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/** Bytes per element, or undefined for BYTES whose elements vary in size. */
export function bytesPerElement(datatype: Datatype): number | undefined {
  return datatype === 'BYTES' ? undefined : TYPED_ARRAY_OF[datatype].BYTES_PER_ELEMENT;
}
