/**
 * Reusable merge buffers for batches. A batch's merged inputs travel to a worker thread and back
 * (RunOptions.recycleInputs), then wait here for the next batch of the same datatype and size,
 * instead of a fresh allocation per batch. Bounded: a few buffers per size, a cap overall.
 */
import { TYPED_ARRAY_OF, type Datatype, type TensorData } from '../tensor.js';

type TypedArray = Exclude<TensorData, string[]>;

export interface BufferPoolOptions {
  /** Buffers kept per datatype and length. Default 4. */
  readonly perSize?: number;
  /** Bytes kept in all. Default 64 MiB. */
  readonly maxBytes?: number;
}

export class BufferPool {
  readonly #free = new Map<string, TypedArray[]>();
  readonly #perSize: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #reused = 0;
  #allocated = 0;

  constructor(options: BufferPoolOptions = {}) {
    this.#perSize = options.perSize ?? 4;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  /** A buffer of exactly `length` elements; its contents are not cleared (the caller overwrites them). */
  take(datatype: Exclude<Datatype, 'BYTES'>, length: number): TypedArray {
    const free = this.#free.get(`${datatype}:${length}`);
    const reused = free?.pop();
    if (reused) {
      this.#bytes -= reused.byteLength;
      this.#reused++;
      return reused;
    }
    this.#allocated++;
    return new TYPED_ARRAY_OF[datatype](length) as TypedArray;
  }

  /** Hands a buffer back; ignored when detached, shared or over the limits. */
  give(datatype: Datatype, data: TensorData): void {
    if (datatype === 'BYTES' || Array.isArray(data)) return;
    const array = data as TypedArray;
    if (array.byteLength === 0 || array.byteOffset !== 0 || array.byteLength !== array.buffer.byteLength) return;
    if (this.#bytes + array.byteLength > this.#maxBytes) return;
    const key = `${datatype}:${array.length}`;
    let free = this.#free.get(key);
    if (!free) {
      free = [];
      this.#free.set(key, free);
    }
    if (free.length >= this.#perSize) return;
    free.push(array);
    this.#bytes += array.byteLength;
  }

  stats(): { reused: number; allocated: number; bytes: number } {
    return { reused: this.#reused, allocated: this.#allocated, bytes: this.#bytes };
  }
}
