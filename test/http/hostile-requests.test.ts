/**
 * Hostile requests (issue #12) over real HTTP against one real gateway with real sessions and a
 * real job queue in Redis (no worker: JOB_CONCURRENCY=0, so submits are validated and queued,
 * never run), on every route that decodes inputs: native predict, V2 infer, async submit
 * (Prefer: respond-async) and POST /jobs. Each answer is the documented 400, never a 500 or a
 * 504, and no prototype changes on the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../tools/model-builder/index.js';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError, expectV2Error } from '../support/http.js';
import { identityModel, linearAnswer, linearModel, LINEAR_V2_INPUT, multiIoModel } from '../support/models.js';

/** Inputs named like Object.prototype members: constructor + toString -> valueOf. */
function prototypeNamesModel(): Uint8Array {
  return new GraphBuilder({ name: 'prototype_names' })
    .input('constructor', 'FP32', [-1, 2])
    .input('toString', 'FP32', [-1, 2])
    .output('valueOf', 'FP32', [-1, 2])
    .node('Add', ['constructor', 'toString'], ['valueOf'])
    .build();
}

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({
    models: {
      linear: { 1: linearModel(1) },
      wide: { 1: identityModel('FP32', [-1, -1]) },
      multi_io: { 1: multiIoModel() },
      prototype_names: { 1: prototypeNamesModel() },
    },
    redis: true,
    env: { JOB_CONCURRENCY: '0' },
  });
});

afterAll(() => t.close());

const deep = (levels: number, inner = ''): string => '['.repeat(levels) + inner + ']'.repeat(levels);

/** `[[0,0,...n zeros],[],[],...]`: a first row of n, then n - 1 empty rows. */
const ragged = (n: number): string => `[[${'0,'.repeat(n - 1)}0]${',[]'.repeat(n - 1)}]`;

interface NativeRoute {
  readonly name: string;
  /** Sends `{"inputs": <inputs>}` (JSON text) for `model` version 1. */
  send(model: string, inputs: string, headers?: Record<string, string>, extra?: string): Promise<Response>;
  /** What a valid request answers. */
  readonly okStatus: number;
}

/** The three routes that take the native body. */
const NATIVE_ROUTES: readonly NativeRoute[] = [
  {
    name: 'native predict',
    send: (model, inputs, headers = {}, extra = '') => t.post(`/models/${model}/1/predict`, `{"inputs":${inputs}${extra}}`, headers),
    okStatus: 200,
  },
  {
    name: 'async submit',
    send: (model, inputs, headers = {}, extra = '') =>
      t.post(`/models/${model}/1/predict`, `{"inputs":${inputs}${extra}}`, { prefer: 'respond-async', ...headers }),
    okStatus: 202,
  },
  {
    name: 'POST /jobs',
    send: (model, inputs, headers = {}, extra = '') => t.post('/jobs', `{"model":"${model}","version":"1","inputs":${inputs}${extra}}`, headers),
    okStatus: 202,
  },
];

const v2Infer = (model: string, body: string, headers: Record<string, string> = {}) => t.post(`/v2/models/${model}/versions/1/infer`, body, headers);
const v2Input = (fields: string) => `{"inputs":[{"name":"input","datatype":"FP32",${fields}}]}`;

describe('every route answers a valid request', () => {
  it.each(NATIVE_ROUTES)('$name', async (route) => {
    expect((await route.send('linear', JSON.stringify(LINEAR_INPUT.inputs))).status).toBe(route.okStatus);
  });
});

describe('deep nesting (item 5)', () => {
  it.each(NATIVE_ROUTES)('$name: 6000 levels are a 400 naming the input', async (route) => {
    await expectError(
      route.send('linear', `{"input":${deep(6000, '1')}}`),
      400,
      'INVALID_INPUT',
      "input 'input' is nested more than 2 levels deep; the model expects rank 2 ([-1,4])",
    );
    // Deep where an element belongs, and deep in a key the decoder ignores (POST /jobs stores the body).
    await expectError(route.send('linear', `{"input":[[1,2,3,${deep(6000)}]]}`), 400, 'INVALID_INPUT', 'element at [0,3] is an array of 1 item');
    await expectError(route.send('linear', `{"input":{"shape":[1,4],"data":${deep(6000)}}}`), 400, 'INVALID_INPUT', '"data" is nested more than 2 levels');
    expect((await route.send('linear', `{"input":{"shape":[1,4],"data":[1,2,3,4],"note":${deep(6000)}}}`)).status).toBe(route.okStatus);
  });

  it('V2 infer: 6000 levels in data, datatype or a parameter are a 400', async () => {
    await expectV2Error(v2Infer('linear', v2Input(`"shape":[1,4],"data":${deep(6000)}`)), 400, '"data" is nested more than 2 levels deep');
    await expectV2Error(v2Infer('linear', v2Input(`"shape":[1,4],"data":${deep(6000, '1')}`)), 400, '"data" is nested more than 2 levels deep');
    await expectV2Error(
      v2Infer('linear', `{"inputs":[{"name":"input","datatype":${deep(6000)},"shape":[1,4],"data":[1,2,3,4]}]}`),
      400,
      'datatype an array of 1 item',
    );
    await expectV2Error(v2Infer('linear', `{"inputs":[${JSON.stringify(LINEAR_V2_INPUT)}],"parameters":{"timeout":${deep(6000)}}}`), 400, '"timeout"');
    // INT64 data is read again digit for digit (a reviver parse, which recurses): refused before it does.
    const ids = '{"name":"ids","shape":[1,3],"datatype":"INT64","data":[9007199254740993,1,2]}';
    await expectV2Error(v2Infer('multi_io', `{"inputs":[${ids},{"name":"x","shape":[1,4],"datatype":"FP32","data":${deep(6000)}}]}`), 400, 'more than 5 levels deep');
  });
});

describe('allocation before validation (item 6)', () => {
  it.each(NATIVE_ROUTES)('$name: a ragged body whose first row would size N² elements is a 400, with no N² buffer', async (route) => {
    // 20,000² FP32 elements would be 1.6 GB of array buffers in this process (the gateway runs in it).
    const before = process.memoryUsage().arrayBuffers;
    await expectError(route.send('wide', `{"input":${ragged(20_000)}}`), 400, 'INVALID_INPUT', "input 'input': ragged nested array at [1]: expected 20000 items");
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    // 100,001² elements is more than V8 can allocate at all: a RangeError (500) if it were tried.
    await expectError(route.send('wide', `{"input":${ragged(100_001)}}`), 400, 'INVALID_INPUT', 'ragged nested array at [1]');
    // With a fixed dim the signature refuses it before the rows are even looked at.
    await expectError(route.send('linear', `{"input":${ragged(100_001)}}`), 400, 'INVALID_INPUT', 'dimension 1 must be 4');
  });

  it('V2 infer: a ragged body is a 400 without an N² buffer', async () => {
    const before = process.memoryUsage().arrayBuffers;
    await expectV2Error(v2Infer('wide', v2Input(`"shape":[20000,20000],"data":${ragged(20_000)}`)), 400, 'needs 400000000 elements, got 20000');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('timeouts beyond 2^31 - 1 ms (item 7)', () => {
  it.each(NATIVE_ROUTES)('$name: x-request-timeout-ms beyond 2^31 - 1, not a whole number, or 0 is a 400', async (route) => {
    for (const value of ['2147483648', '3000000000000', '1.5', '1e3', '0', '-5']) {
      await expectError(route.send('linear', JSON.stringify(LINEAR_INPUT.inputs), { 'x-request-timeout-ms': value }), 400, 'INVALID_REQUEST', 'invalid timeout');
    }
    const error = await expectError(route.send('linear', JSON.stringify(LINEAR_INPUT.inputs), { 'x-request-timeout-ms': '2147483648' }), 400, 'INVALID_REQUEST');
    expect(error.message).toBe("invalid timeout: x-request-timeout-ms '2147483648'; the timeout must be more than 0 and at most 2147483647 ms (about 24.8 days)");
    expect((await route.send('linear', JSON.stringify(LINEAR_INPUT.inputs), { 'x-request-timeout-ms': '2147483647' })).status).toBe(route.okStatus);
  });

  it('V2 infer: beyond 2^31 - 1 ms as the header or the timeout parameter is a 400', async () => {
    const body = JSON.stringify({ inputs: [LINEAR_V2_INPUT] });
    await expectV2Error(v2Infer('linear', body, { 'x-request-timeout-ms': '2147483648' }), 400, "invalid timeout: x-request-timeout-ms '2147483648'");
    const timeout = (micros: number) => JSON.stringify({ inputs: [LINEAR_V2_INPUT], parameters: { timeout: micros } });
    expect(await expectV2Error(v2Infer('linear', timeout(3_000_000_000_000)), 400)).toBe(
      'invalid timeout: parameter "timeout" 3000000000000 µs; the timeout must be more than 0 and at most 2147483647 ms (about 24.8 days)',
    );
    await expectV2Error(v2Infer('linear', timeout(2_147_483_648_000)), 400, 'at most 2147483647 ms');
    for (const ok of [v2Infer('linear', timeout(2_147_483_647_000)), v2Infer('linear', body, { 'x-request-timeout-ms': '2147483647' })]) {
      const response = await ok;
      expect(response.status).toBe(200);
      expect(((await response.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual(linearAnswer(1)[0]);
    }
  });
});

describe('prototype names as keys (item 8)', () => {
  it.each(NATIVE_ROUTES)('$name: __proto__ and constructor as input or output names are unknown names, and no prototype changes', async (route) => {
    for (const name of ['__proto__', 'constructor']) {
      await expectError(route.send('linear', `{"${name}":{"input":[[1,2,3,4]]},"input":[[1,2,3,4]]}`), 400, 'INVALID_INPUT', `unknown input '${name}'`);
      await expectError(route.send('linear', JSON.stringify(LINEAR_INPUT.inputs), {}, `,"outputs":["${name}"]`), 400, 'INVALID_INPUT', `unknown output '${name}'`);
    }
    expect(({} as { input?: unknown }).input).toBeUndefined();
  });

  it.each(NATIVE_ROUTES)('$name: a model with inputs named constructor and toString: missing inputs are a 400, not found on Object.prototype', async (route) => {
    await expectError(route.send('prototype_names', '{}'), 400, 'INVALID_INPUT', 'missing inputs constructor (FP32 [-1,2]), toString (FP32 [-1,2])');
    await expectError(route.send('prototype_names', '{"constructor":[[1,2]]}'), 400, 'INVALID_INPUT', 'missing input toString');
    expect((await route.send('prototype_names', '{"constructor":[[1,2]],"toString":[[3,4]]}')).status).toBe(route.okStatus);
  });

  it('V2 infer: __proto__ and constructor as input, output or parameter names: unknown names are a 400, parameters are ignored', async () => {
    for (const name of ['__proto__', 'constructor']) {
      await expectV2Error(v2Infer('linear', `{"inputs":[{"name":"${name}","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`), 400, `unknown input '${name}'`);
      await expectV2Error(v2Infer('linear', `{"inputs":[${JSON.stringify(LINEAR_V2_INPUT)}],"outputs":[{"name":"${name}"}]}`), 400, `unknown output '${name}'`);
      const withParameter = `{"inputs":[${JSON.stringify(LINEAR_V2_INPUT)}],"parameters":{"${name}":{"timeout":1,"binary_data_output":true}}}`;
      const response = await v2Infer('linear', withParameter);
      expect({ status: response.status, type: response.headers.get('content-type') }).toEqual({ status: 200, type: 'application/json' });
    }
    expect(({} as { timeout?: unknown }).timeout).toBeUndefined();
  });

  it('V2 infer: a model with inputs named constructor and toString takes each once', async () => {
    const body = `{"inputs":[{"name":"constructor","shape":[1,2],"datatype":"FP32","data":[1,2]},{"name":"toString","shape":[1,2],"datatype":"FP32","data":[3,4]}]}`;
    const response = await v2Infer('prototype_names', body);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { outputs: unknown }).outputs).toEqual([{ name: 'valueOf', datatype: 'FP32', shape: [1, 2], data: [4, 6] }]);
    await expectV2Error(v2Infer('prototype_names', `{"inputs":[{"name":"constructor","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`), 400, 'missing input toString');
  });
});

describe('small lies (item 9)', () => {
  it.each(NATIVE_ROUTES)('$name: BOOL given 1 or 0 and a lone surrogate in BYTES are a 400', async (route) => {
    const multiIo = (mask: string, text: string) => `{"x":[[1,2,3,4]],"ids":[[1,2,3]],"mask":[${mask}],"text":[${text}]}`;
    expect((await route.send('multi_io', multiIo('[true,false,true]', '["a","b"]'))).status).toBe(route.okStatus);
    await expectError(route.send('multi_io', multiIo('[1,0,1]', '["a","b"]')), 400, 'INVALID_INPUT', "input 'mask': element at [0,0] is 1; BOOL expects booleans");
    await expectError(route.send('multi_io', multiIo('[true,false,true]', '["\\ud800","b"]')), 400, 'INVALID_INPUT', "input 'text': element at [0,0] is \"\\ud800\"");
  });

  it('V2 infer: BOOL given 1 or 0 (JSON) or a byte other than 0 and 1 (binary), and a lone surrogate in BYTES, are a 400', async () => {
    const inputs = (mask: string, text: string) =>
      `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},{"name":"ids","shape":[1,3],"datatype":"INT64","data":[1,2,3]},` +
      `{"name":"mask","shape":[1,3],"datatype":"BOOL",${mask}},{"name":"text","shape":[1,2],"datatype":"BYTES","data":${text}}]}`;
    expect((await v2Infer('multi_io', inputs('"data":[true,false,true]', '["a","b"]'))).status).toBe(200);
    await expectV2Error(v2Infer('multi_io', inputs('"data":[1,0,1]', '["a","b"]')), 400, "input 'mask': element 0 is 1; BOOL expects booleans");
    await expectV2Error(v2Infer('multi_io', inputs('"data":[true,false,true]', '["a","\\udfff"]')), 400, "input 'text': element 1 is \"\\udfff\"");
    const header = Buffer.from(inputs('"parameters":{"binary_data_size":3}', '["a","b"]'));
    const body = Buffer.concat([header, Buffer.from([1, 2, 0])]);
    await expectV2Error(
      t.raw('POST', '/v2/models/multi_io/versions/1/infer', body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }),
      400,
      "input 'mask': BOOL element 1 is the byte 2",
    );
  });
});
