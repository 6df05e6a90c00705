/**
 * Reusable merge buffers for batches. A batch's merged inputs travel to a worker thread and back
 * (RunOptions.recycleInputs), then wait here for the next batch of the same datatype and size,
 * instead of a fresh allocation per batch. Bounded three ways: a few buffers per size, a cap on
 * bytes overall, and a cap on the number of (datatype, length) sizes kept. Lengths follow the
 * dims clients choose, so the sizes are an LRU: a size not used for a while is dropped whole
 * (its buffers go to the garbage collector) when a new one needs the room.
 */
import { LRUCache } from 'lru-cache';
import { TYPED_ARRAY_OF, type Datatype, type TensorData } from '../tensor.js';

type TypedArray = Exclude<TensorData, string[]>;

export interface BufferPoolOptions {
  /** Buffers kept per datatype and length. Default 4. */
  readonly perSize?: number;
  /** Bytes kept in all. Default 64 MiB. */
  readonly maxBytes?: number;
  /** (datatype, length) sizes kept; the least recently used one is dropped beyond it. Default 64. */
  readonly maxSizes?: number;
}

export interface BufferPoolStats {
  readonly reused: number;
  readonly allocated: number;
  /** Bytes held in free buffers. */
  readonly bytes: number;
  /** (datatype, length) sizes with free buffers kept. */
  readonly sizes: number;
}

export const DEFAULT_POOL_MAX_SIZES = 64;

export class BufferPool {
  readonly #free: LRUCache<string, TypedArray[]>;
  readonly #perSize: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #reused = 0;
  #allocated = 0;

  constructor(options: BufferPoolOptions = {}) {
    this.#perSize = options.perSize ?? 4;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.#free = new LRUCache<string, TypedArray[]>({
      max: options.maxSizes ?? DEFAULT_POOL_MAX_SIZES,
      // An evicted size takes its buffers' bytes with it.
      dispose: (buffers) => {
        for (const buffer of buffers) this.#bytes -= buffer.byteLength;
      },
    });
  }

  /** A buffer of exactly `length` elements; its contents are not cleared (the caller overwrites them). */
  take(datatype: Exclude<Datatype, 'BYTES'>, length: number): TypedArray {
    const key = `${datatype}:${length}`;
    const free = this.#free.get(key);
    const reused = free?.pop();
    if (reused) {
      this.#bytes -= reused.byteLength;
      this.#reused++;
      // An emptied size holds nothing: it must not take a slot from sizes that do.
      if (free!.length === 0) this.#free.delete(key);
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

  stats(): BufferPoolStats {
    return { reused: this.#reused, allocated: this.#allocated, bytes: this.#bytes, sizes: this.#free.size };
  }
}
