/**
 * Every error path of the Open Inference Protocol: `{"error": "<message>"}` with Triton's status
 * mapping (400 bad request, 404 unknown model or version, 413, 503 unavailable, 504 deadline),
 * and never a 500 for bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectV2Error } from '../support/http.js';
import { identityModel, LINEAR_V2_INPUT, linearModel, multiIoModel } from '../support/models.js';
import { binaryRequest, bytesOf, json, send, serializeBytes } from './oip-wire.js';

const BODY_LIMIT = 64 * 1024;
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({
    env: { BODY_LIMIT_BYTES: String(BODY_LIMIT) },
    models: {
      linear: { 1: linearModel() },
      multi_io: { 1: multiIoModel() },
      id_text: { 1: identityModel('BYTES', [-1, 2]) },
      id_fp32: { 1: identityModel('FP32', [-1]) },
      // Not an ONNX file: its only version fails to load, so the model exists but is unavailable.
      broken: { 1: new Uint8Array([0x08, 0x01, 0xff, 0xff]) },
    },
  });
});
afterAll(() => t.close());

const infer = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  send(t.url, 'POST', path, typeof body === 'string' ? body : JSON.stringify(body), { 'Content-Type': 'application/json', ...headers });


describe('unknown model, version or alias: 404', () => {
  it('answers 404 on every per-model endpoint for an unknown model', async () => {
    await expectV2Error(infer('/v2/models/nope/infer', { inputs: [LINEAR_V2_INPUT] }), 404, 'nope');
    await expectV2Error(send(t.url, 'GET', '/v2/models/nope'), 404, 'nope');
    await expectV2Error(send(t.url, 'GET', '/v2/models/nope/ready'), 404, 'nope');
    await expectV2Error(send(t.url, 'GET', '/v2/models/nope/stats'), 404, 'nope');
  });

  it('answers 404 for an unknown version or alias', async () => {
    await expectV2Error(infer('/v2/models/linear/versions/7/infer', { inputs: [LINEAR_V2_INPUT] }), 404, '7');
    await expectV2Error(send(t.url, 'GET', '/v2/models/linear/versions/7'), 404, '7');
    await expectV2Error(send(t.url, 'GET', '/v2/models/linear/versions/7/ready'), 404, '7');
    await expectV2Error(send(t.url, 'GET', '/v2/models/linear/versions/7/stats'), 404, '7');
    await expectV2Error(infer('/v2/models/linear/versions/canary/infer', { inputs: [LINEAR_V2_INPUT] }), 404, 'canary');
  });

  it('answers 400 for a model or version name that is not allowed', async () => {
    await expectV2Error(send(t.url, 'GET', '/v2/models/linear/versions/..%2F..'), 400, 'version');
    await expectV2Error(send(t.url, 'GET', '/v2/models/-bad'), 400, 'model name');
  });

  it('answers 404 in the protocol shape for unknown /v2 endpoints', async () => {
    await expectV2Error(send(t.url, 'GET', '/v2/nothing/here'), 404, '/v2/nothing/here');
  });
});

describe('a model that cannot serve: 503', () => {
  it('answers 503 with the load failure and Retry-After on infer and metadata; ready says false', async () => {
    const response = await infer('/v2/models/broken/infer', { inputs: [LINEAR_V2_INPUT] });
    await expectV2Error(response, 503, /broken/);
    expect(response.headers['retry-after']).toBeDefined();
    await expectV2Error(send(t.url, 'GET', '/v2/models/broken'), 503, /broken/);
    const ready = await send(t.url, 'GET', '/v2/models/broken/ready');
    expect(ready.status).toBe(503);
    expect(json(ready)).toMatchObject({ name: 'broken', ready: false });
  });
});

describe('bad requests: 400', () => {
  it('malformed JSON, a body that is no object, no inputs', async () => {
    await expectV2Error(infer('/v2/models/linear/infer', '{"inputs": ['), 400, 'JSON');
    await expectV2Error(infer('/v2/models/linear/infer', ''), 400, 'empty');
    await expectV2Error(infer('/v2/models/linear/infer', '[1, 2]'), 400, 'object');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: { input: [1, 2, 3, 4] } }), 400, 'inputs');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT], id: 42 }), 400, 'id');
  });

  it('wrong input name, missing input, input given twice', async () => {
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, name: 'inp' }] }), 400, "'inp'");
    await expectV2Error(
      infer('/v2/models/multi_io/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
      400,
      /missing inputs? .*ids/,
    );
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT, LINEAR_V2_INPUT] }), 400, 'twice');
  });

  it('wrong datatype, and datatypes onnxruntime-node cannot take', async () => {
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, datatype: 'FP64' }] }), 400, 'FP32');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, datatype: 'BF16' }] }), 400, 'BF16');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, datatype: 'fp32' }] }), 400, 'fp32');
  });

  it('wrong shape: rank, fixed dims, negative or fractional dims', async () => {
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, shape: [4] }] }), 400, 'rank');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, shape: [2, 2] }] }), 400, 'dimension 1');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, shape: [-1, 4] }] }), 400, 'shape');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, shape: [1.5, 4] }] }), 400, 'shape');
  });

  it('element count that does not match the shape, and elements of the wrong type', async () => {
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, data: [1, 2, 3] }] }), 400, '4 elements');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, shape: [2, 4] }] }), 400, '8 elements');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, data: [1, 2, 'x', 4] }] }), 400, 'element 2');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [{ ...LINEAR_V2_INPUT, data: undefined }] }), 400, 'data');
  });

  it('a huge dynamic dim with little data is a 400, not an allocation', async () => {
    const huge = { name: 'input', shape: [10_000_000_000], datatype: 'FP32' };
    await expectV2Error(infer('/v2/models/id_fp32/infer', { inputs: [{ ...huge, data: [1, 2] }] }), 400, '10000000000');
    const request = binaryRequest({ inputs: [{ ...huge, parameters: { binary_data_size: 8 } }] }, [Buffer.alloc(8)]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/id_fp32/infer', request.body, request.headers), 400, '40000000000 bytes');
  });

  it('unknown or duplicated outputs, unsupported extensions', async () => {
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT], outputs: [{ name: 'nope' }] }), 400, "'nope'");
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT], outputs: [{ name: 'output' }, { name: 'output' }] }), 400, 'twice');
    await expectV2Error(
      infer('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT], outputs: [{ name: 'output', parameters: { classification: 2 } }] }),
      400,
      'classification',
    );
    await expectV2Error(
      infer('/v2/models/linear/infer', {
        inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { shared_memory_region: 'r', shared_memory_byte_size: 16 } }],
      }),
      400,
      'shared-memory',
    );
  });

  it('a bad timeout parameter', async () => {
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT], parameters: { timeout: -5 } }), 400, 'timeout');
    await expectV2Error(infer('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT], parameters: { timeout: '1s' } }), 400, 'timeout');
  });

  it('BYTES elements onnxruntime-node cannot carry: invalid UTF-8, NUL', async () => {
    const invalid = serializeBytes([Buffer.from([0xc3, 0x28]), 'ok']);
    const request = binaryRequest(
      { inputs: [{ name: 'input', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: invalid.length } }] },
      [invalid],
    );
    await expectV2Error(send(t.url, 'POST', '/v2/models/id_text/infer', request.body, request.headers), 400, 'UTF-8');
    await expectV2Error(infer('/v2/models/id_text/infer', { inputs: [{ name: 'input', shape: [1, 2], datatype: 'BYTES', data: ['a\u0000b', 'c'] }] }), 400, 'NUL');
  });
});

describe('binary tensor data errors: 400', () => {
  const fp32 = bytesOf(Float32Array.from([1, 2, 3, 4]));
  const header = (size: number) => ({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: size } }] });

  it('binary_data_size that does not match shape × element size', async () => {
    const short = binaryRequest(header(12), [fp32.subarray(0, 12)]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', short.body, short.headers), 400, '16 bytes');
    const long = binaryRequest(header(20), [Buffer.concat([fp32, Buffer.alloc(4)])]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', long.body, long.headers), 400, '16 bytes');
  });

  it('a truncated body: binary_data_size beyond what was sent', async () => {
    const truncated = binaryRequest(header(16), [fp32.subarray(0, 10)]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', truncated.body, truncated.headers), 400, /truncated|remain/);
  });

  it('bytes left over after every declared binary input', async () => {
    const extra = binaryRequest(header(16), [Buffer.concat([fp32, Buffer.from([1, 2, 3])])]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', extra.body, extra.headers), 400, '3 bytes');
  });

  it('Inference-Header-Content-Length larger than the body, or not a number', async () => {
    const request = binaryRequest(header(16), [fp32]);
    const tooLong = { ...request.headers, 'Inference-Header-Content-Length': String(request.body.length + 1) };
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', request.body, tooLong), 400, 'Inference-Header-Content-Length');
    const notNumber = { ...request.headers, 'Inference-Header-Content-Length': 'twelve' };
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', request.body, notNumber), 400, 'Inference-Header-Content-Length');
  });

  it('a header length that cuts the JSON short', async () => {
    const request = binaryRequest(header(16), [fp32]);
    const cut = { ...request.headers, 'Inference-Header-Content-Length': '10' };
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', request.body, cut), 400, 'JSON');
  });

  it('binary_data_size without a header length, both data and binary data, and a bad size', async () => {
    const body = JSON.stringify(header(16));
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', body), 400, 'Inference-Header-Content-Length');
    const both = binaryRequest({ inputs: [{ ...LINEAR_V2_INPUT, parameters: { binary_data_size: 16 } }] }, [fp32]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', both.body, both.headers), 400, 'both');
    const negative = binaryRequest(header(-16), [fp32]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/linear/infer', negative.body, negative.headers), 400, 'binary_data_size');
  });

  it('BYTES binary data whose lengths overrun it, or that holds fewer elements than the shape', async () => {
    const overrun = Buffer.concat([serializeBytes(['ab']), Buffer.from([0xff, 0, 0, 0, 0x61])]);
    const a = binaryRequest({ inputs: [{ name: 'input', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: overrun.length } }] }, [overrun]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/id_text/infer', a.body, a.headers), 400, 'element 1');
    const few = serializeBytes(['only one']);
    const b = binaryRequest({ inputs: [{ name: 'input', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: few.length } }] }, [few]);
    await expectV2Error(send(t.url, 'POST', '/v2/models/id_text/infer', b.body, b.headers), 400, '1 of 2');
  });
});

describe('limits', () => {
  it('answers 413 for a body over BODY_LIMIT_BYTES', async () => {
    const data = new Float32Array(BODY_LIMIT / 4 + 16);
    const request = binaryRequest(
      { inputs: [{ name: 'input', shape: [data.length], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }] },
      [bytesOf(data)],
    );
    await expectV2Error(send(t.url, 'POST', '/v2/models/id_fp32/infer', request.body, request.headers), 413, `${BODY_LIMIT}`);
  });
});
