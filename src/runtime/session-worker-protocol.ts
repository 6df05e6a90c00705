/**
 * Messages between WorkerPoolRuntime and its session workers. Structured clone with transfer
 * lists, never JSON: tensor data moves between threads without copies, and a run message is a
 * handful of small fields around the tensors. Rules: transfer only whole buffers, or the whole
 * buffer of a movable tensor (its owner gave it away); copy every other partial view.
 */
import { TYPED_ARRAY_OF, type ModelSignature, type Tensor, type TensorData } from '../tensor.js';
import type { SessionOptions } from './inference-runtime.js';

export type WorkerRequest =
  | { readonly kind: 'load'; readonly id: number; readonly sessionId: number; readonly modelPath: string; readonly options: SessionOptions }
  | {
      readonly kind: 'run';
      readonly id: number;
      readonly sessionId: number;
      readonly inputs: Readonly<Record<string, Tensor>>;
      /** Undefined: every output. */
      readonly outputNames: readonly string[] | undefined;
      /** Send the input tensors back with the outputs, so their buffers can be reused. */
      readonly returnInputs?: boolean;
    }
  | { readonly kind: 'release'; readonly id: number; readonly sessionId: number }
  /**
   * Test hook: the worker dies of an uncaught exception, as it would from a fault in native code:
   * at once, or (onNextRun) when the next run arrives, so that run is in flight when it dies.
   */
  | { readonly kind: 'crash'; readonly message: string; readonly onNextRun?: boolean };

export type WorkerReply =
  | { readonly kind: 'loaded'; readonly id: number; readonly signature: ModelSignature }
  | { readonly kind: 'ran'; readonly id: number; readonly outputs: Record<string, Tensor>; readonly inputs?: Readonly<Record<string, Tensor>> }
  | { readonly kind: 'released'; readonly id: number }
  | { readonly kind: 'failed'; readonly id: number; readonly message: string };

/** The tensor's whole buffer may go in a transfer list: its data views all of it, or its owner gave it away (movable). */
function transferable(tensor: Tensor, buffer: ArrayBufferLike, byteOffset: number, byteLength: number): buffer is ArrayBuffer {
  return buffer instanceof ArrayBuffer && (tensor.movable === true || (byteOffset === 0 && byteLength === buffer.byteLength));
}

/**
 * Buffers to put in a transfer list: each whole, unshared buffer once (several views of one
 * movable buffer, e.g. two inputs of one request body, list it once). Other partial views are not listed.
 */
export function transferablesOf(tensors: Iterable<Tensor>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of tensors) {
    const { data } = tensor;
    if (Array.isArray(data)) continue;
    if (transferable(tensor, data.buffer, data.byteOffset, data.byteLength)) buffers.add(data.buffer);
  }
  return [...buffers];
}

/**
 * Our tensor with data that can be transferred without stealing from anyone. A typed array that
 * is a view into a larger buffer (Node's Buffer pool, a slice of a request body) is copied, since
 * transferring its buffer would detach memory the caller never handed over; so is one over a
 * SharedArrayBuffer, which cannot be transferred and which onnxruntime-node refuses anyway.
 * Whole buffers are kept as they are, for the transfer list, and so is a view into a buffer its
 * owner gave away (a movable tensor): the whole buffer moves, the view keeps its offset.
 */
export function ownedTensor(tensor: Tensor): Tensor {
  const { datatype, shape, data } = tensor;
  if (Array.isArray(data) || datatype === 'BYTES') return { datatype, shape, data };
  const buffer = data.buffer;
  if (transferable(tensor, buffer, data.byteOffset, data.byteLength)) {
    return tensor.movable === true ? { datatype, shape, data, movable: true } : { datatype, shape, data };
  }
  // The datatype's own constructor, not data.constructor: a Buffer's is the deprecated Buffer().
  const Constructor = TYPED_ARRAY_OF[datatype] as unknown as new (buffer: ArrayBuffer) => TensorData;
  // A mismatched array is left for the worker to reject with a clear message.
  if (!(data instanceof Constructor)) return { datatype, shape, data };
  const copy = new ArrayBuffer(data.byteLength);
  new Uint8Array(copy).set(new Uint8Array(buffer, data.byteOffset, data.byteLength));
  return { datatype, shape, data: new Constructor(copy) };
}
