/** What goes into a transfer list, and what is copied first so that a transfer steals nothing. */
import { describe, expect, it } from 'vitest';
import { ownedTensor, transferablesOf } from '../../src/runtime/session-worker-protocol.js';
import type { Tensor } from '../../src/tensor.js';

describe('session-worker-protocol', () => {
  it('keeps a typed array that owns its whole buffer, for transfer', () => {
    const data = new Float32Array([1, 2, 3]);
    const owned = ownedTensor({ datatype: 'FP32', shape: [3], data });
    expect(owned.data).toBe(data);
    expect(transferablesOf([owned])).toEqual([data.buffer]);
  });

  it('copies only the viewed bytes of a view into a larger buffer', () => {
    const backing = new Float32Array(1024).map((_, i) => i);
    const view = backing.subarray(10, 13);
    const owned = ownedTensor({ datatype: 'FP32', shape: [3], data: view });
    expect(owned.data).toBeInstanceOf(Float32Array);
    expect(Array.from(owned.data as Float32Array)).toEqual([10, 11, 12]);
    expect((owned.data as Float32Array).buffer.byteLength).toBe(12);
    expect(transferablesOf([{ datatype: 'FP32', shape: [3], data: view }])).toEqual([]);
    expect(transferablesOf([owned])).toEqual([(owned.data as Float32Array).buffer]);
  });

  it('copies a pooled Buffer into a plain Uint8Array of its own', () => {
    const pooled = Buffer.from([5, 6, 7]);
    const owned = ownedTensor({ datatype: 'UINT8', shape: [3], data: pooled });
    expect(owned.data).not.toBe(pooled);
    expect(Object.getPrototypeOf(owned.data)).toBe(Uint8Array.prototype);
    expect((owned.data as Uint8Array).buffer.byteLength).toBe(3);
  });

  it('copies SharedArrayBuffer-backed data and never lists a shared buffer', () => {
    const shared = new Int32Array(new SharedArrayBuffer(8));
    shared.set([1, -1]);
    expect(transferablesOf([{ datatype: 'INT32', shape: [2], data: shared }])).toEqual([]);
    const owned = ownedTensor({ datatype: 'INT32', shape: [2], data: shared });
    expect((owned.data as Int32Array).buffer).toBeInstanceOf(ArrayBuffer);
    expect(Array.from(owned.data as Int32Array)).toEqual([1, -1]);
  });

  it('lists a buffer two inputs share once, and no strings', () => {
    const data = new BigInt64Array([1n, 2n]);
    const tensors: Tensor[] = [
      { datatype: 'INT64', shape: [2], data },
      { datatype: 'INT64', shape: [2], data },
      { datatype: 'BYTES', shape: [1], data: ['text'] },
    ];
    expect(transferablesOf(tensors)).toEqual([data.buffer]);
  });
});
