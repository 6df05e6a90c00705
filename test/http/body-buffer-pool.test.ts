/**
 * The HTTP loop's reusable body buffers: a buffer comes back only when lent and only once, never
 * after it moved to another thread (detached), and small bodies are never pooled. Then over real
 * HTTP: large V2 binary requests reuse their body and answer buffers instead of allocating two each.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BodyBufferPool, bodyBuffers } from '../../src/http/body-buffer-pool.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { identityModel } from '../support/models.js';
import { binaryRequest, parseInferResponse } from '../v2/oip-wire.js';

describe('BodyBufferPool', () => {
  it('lends a buffer of its own, offset as asked, and takes it back for the next body of its size class', () => {
    const pool = new BodyBufferPool();
    const body = pool.take(100_000, 3);
    expect(body.length).toBe(100_000);
    expect(body.byteOffset).toBe(3);
    expect(body.buffer.byteLength % (16 * 1024)).toBe(0);
    pool.giveBack(body);
    pool.giveBack(body); // twice: counted once
    const again = pool.take(99_000);
    expect(again.buffer).toBe(body.buffer);
    expect(pool.stats()).toMatchObject({ allocated: 1, reused: 1 });
    expect(pool.take(99_000).buffer).not.toBe(body.buffer);
  });

  it('never takes back a buffer it did not lend, one that moved to another thread, or a small one', () => {
    const pool = new BodyBufferPool();
    pool.giveBack(Buffer.allocUnsafeSlow(64 * 1024));
    const moved = pool.take(64 * 1024);
    structuredClone(moved.buffer, { transfer: [moved.buffer as ArrayBuffer] });
    pool.giveBack(moved);
    const small = pool.take(1000);
    pool.giveBack(small);
    expect(pool.stats()).toMatchObject({ bytes: 0, reused: 0 });
  });
});

describe('large V2 binary requests over HTTP', () => {
  let gateway: TestGateway;
  afterEach(async () => {
    await gateway?.close();
  });

  it('reuse their buffers (body and answer) from one request to the next, and every answer is byte-exact', async () => {
    const wide = 50_000;
    gateway = await startTestGateway({ models: { wide: { 1: identityModel('FP32', [-1, wide]) } } });
    const before = bodyBuffers.stats();
    const requests = 8;
    for (let i = 0; i < requests; i++) {
      const data = new Float32Array(wide).map((_, j) => j * 0.5 + i);
      const bytes = Buffer.from(data.buffer);
      const request = binaryRequest(
        { inputs: [{ name: 'input', shape: [1, wide], datatype: 'FP32', parameters: { binary_data_size: bytes.length } }], parameters: { binary_data_output: true } },
        [bytes],
      );
      const response = await gateway.raw('POST', '/v2/models/wide/versions/1/infer', request.body, request.headers);
      expect(response.status).toBe(200);
      expect(parseInferResponse(response).binary.get('output')!.equals(bytes)).toBe(true);
    }
    const after = bodyBuffers.stats();
    // Each request takes two buffers, its body's (moved to the worker, which hands it back with
    // the answer) and its answer's (back once written): without reuse, 2 allocations a request.
    expect(after.reused - before.reused).toBeGreaterThanOrEqual(requests);
    expect(after.allocated - before.allocated).toBeLessThanOrEqual(4);
  });
});

describe('BodyBufferPool.adopt', () => {
  it('takes back a lent buffer or the same memory handed back by another thread, each once', () => {
    const pool = new BodyBufferPool();
    const lent = pool.take(40_000);
    pool.adopt(lent);
    pool.giveBack(lent); // already back: ignored
    expect(pool.stats().bytes).toBe(lent.buffer.byteLength);
    const moved = pool.take(40_000);
    const { buffer } = structuredClone({ buffer: moved.buffer as ArrayBuffer }, { transfer: [moved.buffer as ArrayBuffer] });
    pool.adopt(new Float32Array(buffer, 8, 4));
    pool.adopt(new Float32Array(buffer, 16, 4)); // a second view of it: ignored
    pool.giveBack(moved); // its detached original: ignored
    expect(pool.stats().bytes).toBe(lent.buffer.byteLength + buffer.byteLength);
    // Not of a size class this pool lends: never taken in.
    pool.adopt(new Uint8Array(40_000));
    expect(pool.stats().bytes).toBe(lent.buffer.byteLength + buffer.byteLength);
  });
});
