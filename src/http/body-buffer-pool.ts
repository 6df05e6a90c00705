/**
 * Reusable buffers for large request and response bodies on the HTTP loop. A 200 kB binary request
 * otherwise allocates a fresh ArrayBuffer for its body and another for its answer; V8 counts such
 * memory as external and collects garbage the more often the more of it is allocated, which on a
 * saturated loop cost a fifth of its time. A buffer is lent for one request and comes back only
 * when nothing can read it any more: a request body once its answer has been written in full
 * (finish; a connection that closes early keeps it, for the garbage collector), an answer's
 * buffer once the socket has taken every byte of it. A buffer moved to another thread (detached)
 * comes back only if that thread hands it back (adopt). Sizes are rounded up to classes so that bodies of nearly equal length share.
 */
import type { ServerResponse } from 'node:http';
import { BufferPool } from '../scheduling/buffer-pool.js';

export interface BodyBufferPoolOptions {
  /** Bodies smaller than this are not pooled (they cost little, and often no buffer of their own). Default 16 KiB. */
  readonly minBytes?: number;
  /** Sizes are rounded up to a multiple of this. Default 16 KiB. */
  readonly classBytes?: number;
  /** Bytes kept in free buffers in all. Default 32 MiB. */
  readonly maxBytes?: number;
  /** Free buffers kept per size class. Default 16 (a request and an answer per connection of a busy client). */
  readonly perSize?: number;
}

export class BodyBufferPool {
  readonly #pool: BufferPool;
  readonly #minBytes: number;
  readonly #classBytes: number;
  /** Buffers lent out and not yet given back: only those are taken back, each once. */
  readonly #lent = new WeakSet<ArrayBufferLike>();
  /** Buffers handed back by another thread and taken in: each such ArrayBuffer object once. */
  readonly #adopted = new WeakSet<ArrayBuffer>();

  constructor(options: BodyBufferPoolOptions = {}) {
    this.#minBytes = options.minBytes ?? 16 * 1024;
    this.#classBytes = options.classBytes ?? 16 * 1024;
    this.#pool = new BufferPool({ perSize: options.perSize ?? 16, maxBytes: options.maxBytes ?? 32 * 1024 * 1024, maxSizes: 32 });
  }

  /**
   * `bytes` bytes, not cleared, `offset` bytes into a buffer of their own (nothing else lives in
   * it). Smaller than minBytes: a fresh buffer of exactly offset + bytes, never pooled.
   */
  take(bytes: number, offset = 0): Buffer {
    const whole = offset + bytes;
    if (whole < this.#minBytes) return Buffer.allocUnsafeSlow(whole).subarray(offset);
    const length = Math.ceil(whole / this.#classBytes) * this.#classBytes;
    const array = this.#pool.take('UINT8', length) as Uint8Array;
    this.#lent.add(array.buffer);
    return Buffer.from(array.buffer, offset, bytes);
  }

  /** Gives back the buffer under `body` now, if it was lent and is not detached. The caller must be done with it. */
  giveBack(body: Uint8Array): void {
    const buffer = body.buffer;
    if (!this.#lent.has(buffer)) return;
    this.#lent.delete(buffer);
    if (buffer.byteLength === 0) return; // moved to another thread
    this.#pool.give('UINT8', new Uint8Array(buffer));
  }

  /**
   * Takes back the buffer under a movable tensor's data when the runtime hands it back: the one
   * lent (runs on this thread), or the same memory returned by a worker thread as a new
   * ArrayBuffer. Once per buffer; the caller must be done with it.
   */
  adopt(data: ArrayBufferView): void {
    const buffer = data.buffer;
    if (this.#lent.has(buffer)) {
      this.giveBack(new Uint8Array(buffer));
      return;
    }
    if (!(buffer instanceof ArrayBuffer) || this.#adopted.has(buffer)) return;
    if (buffer.byteLength < this.#minBytes || buffer.byteLength % this.#classBytes !== 0) return;
    this.#adopted.add(buffer);
    this.#pool.give('UINT8', new Uint8Array(buffer));
  }

  /** Gives `bodies` back once `response` has been written in full; never if the connection closes first. */
  giveBackAfter(response: ServerResponse, ...bodies: Uint8Array[]): void {
    response.once('finish', () => {
      for (const body of bodies) this.giveBack(body);
    });
  }

  stats(): ReturnType<BufferPool['stats']> {
    return this.#pool.stats();
  }
}

/** The pool the HTTP routes share. */
export const bodyBuffers = new BodyBufferPool();
