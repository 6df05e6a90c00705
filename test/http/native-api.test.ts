import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { linearVersions, MULTI_IO_SIGNATURE, multiIoModel, noBatchModel } from '../support/models.js';

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({
    env: { BODY_LIMIT_BYTES: '4096' },
    models: {
      linear: linearVersions(1, 2),
      multi_io: { 1: multiIoModel() },
      no_batch: { 1: noBatchModel() },
    },
  });
});
afterAll(() => t.close());

describe('native predict', () => {
  it('answers with outputs and the serving version in x-model-version', async () => {
    const response = await t.post('/models/linear/1/predict', LINEAR_INPUT);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-model-version')).toBe('1');
    expect(await response.json()).toEqual({ model_name: 'linear', model_version: '1', outputs: { output: [[5, 1.5]] } });
    const v2 = await t.post('/models/linear/2/predict', { inputs: { input: { shape: [1, 4], data: [1, 2, 3, 4] } } });
    expect(((await v2.json()) as { outputs: unknown }).outputs).toEqual({ output: [[10, 3]] });
  });

  it('uses latest (highest READY) without a default route, and multi-row batches', async () => {
    const response = await t.post('/models/linear/predict', { inputs: { input: [[1, 2, 3, 4], [0, 0, 0, 0]] } });
    expect(response.headers.get('x-model-version')).toBe('2');
    expect(((await response.json()) as { outputs: unknown }).outputs).toEqual({ output: [[10, 3], [0, 0]] });
  });

  it('serves INT64, BOOL and string tensors, selected outputs, and models without a batch dim', async () => {
    const response = await t.post('/models/multi_io/1/predict', {
      inputs: { x: [[1, 2, 3, 4]], ids: [['9007199254740993', 2, 3]], mask: [[true, false, true]], text: [['a', 'b']] },
      outputs: ['ids_plus_one', 'mask_not', 'text_copy'],
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { outputs: unknown }).outputs).toEqual({
      ids_plus_one: [['9007199254740994', 3, 4]],
      mask_not: [[false, true, false]],
      text_copy: [['a', 'b']],
    });
    const noBatch = await t.post('/models/no_batch/predict', { inputs: { x: [1, 2, 3] } });
    expect(((await noBatch.json()) as { outputs: unknown }).outputs).toEqual({ y: [2, 4, 6] });
  });
});

describe('bad input: a clear 4xx, never a 500', () => {
  it('malformed JSON', async () => {
    await expectError(await t.post('/models/linear/1/predict', '{"inputs": [1,'), 400, 'INVALID_JSON', 'not valid JSON');
    await expectError(await t.post('/models/linear/1/predict', ''), 400, 'INVALID_JSON', 'empty');
    await expectError(await t.post('/models/linear/1/predict', '[1,2]'), 400, 'INVALID_REQUEST', 'JSON object');
  });

  it('wrong input name', async () => {
    await expectError(await t.post('/models/linear/1/predict', { inputs: { nope: [[1, 2, 3, 4]] } }), 400, 'INVALID_INPUT', "unknown input 'nope'");
  });

  it('wrong shape', async () => {
    const routed = await t.post('/models/linear/1/predict', { inputs: { input: [[1, 2, 3]] } });
    expect(routed.headers.get('x-model-version')).toBe('1'); // errors after routing name the version too
    await expectError(routed, 400, 'INVALID_INPUT', 'dimension 1 must be 4');
    await expectError(await t.post('/models/linear/1/predict', { inputs: { input: [1, 2, 3, 4] } }), 400, 'INVALID_INPUT', 'rank 2');
    await expectError(await t.post('/models/linear/1/predict', { inputs: { input: [[1, 2, 3, 4], [1]] } }), 400, 'INVALID_INPUT', 'ragged');
  });

  it('wrong dtype', async () => {
    await expectError(
      await t.post('/models/linear/1/predict', { inputs: { input: [['a', 2, 3, 4]] } }),
      400,
      'INVALID_INPUT',
      'FP32 expects numbers',
    );
    await expectError(
      await t.post('/models/multi_io/1/predict', { inputs: { x: [[1, 2, 3, 4]], ids: [[1.5, 2, 3]], mask: [[true, false, true]], text: [['a', 'b']] } }),
      400,
      'INVALID_INPUT',
      'INT64',
    );
  });

  it('missing input and unknown output', async () => {
    await expectError(await t.post('/models/multi_io/1/predict', { inputs: { x: [[1, 2, 3, 4]] } }), 400, 'INVALID_INPUT', 'missing inputs');
    await expectError(
      await t.post('/models/linear/1/predict', { ...LINEAR_INPUT, outputs: ['nope'] }),
      400,
      'INVALID_INPUT',
      "unknown output 'nope'",
    );
  });

  it('unknown model, unknown version, unknown alias', async () => {
    await expectError(await t.post('/models/nosuch/predict', LINEAR_INPUT), 404, 'MODEL_NOT_FOUND', "'nosuch'");
    await expectError(await t.post('/models/linear/7/predict', LINEAR_INPUT), 404, 'VERSION_NOT_FOUND', '7');
    await expectError(await t.post('/models/linear/canary/predict', LINEAR_INPUT), 404, 'ALIAS_NOT_FOUND', 'canary');
  });

  it('`..` and other bad names', async () => {
    // Sent byte for byte, a `..` segment (raw or %2E-encoded) is resolved by URL parsing before
    // routing: it never names a model, the request lands on no endpoint.
    const post = (path: string) => t.raw('POST', path, JSON.stringify(LINEAR_INPUT), { 'content-type': 'application/json' });
    for (const path of ['/models/../predict', '/models/%2E%2E/predict']) await expectError(post(path), 404, 'NOT_FOUND', 'no endpoint POST /predict');
    // An encoded slash stays inside the segment: the name `../etc` is refused as a name.
    await expectError(post('/models/..%2Fetc/predict'), 400, 'INVALID_MODEL_NAME', "invalid model name '../etc'");
    await expectError(await t.post('/models/a..b/predict', LINEAR_INPUT), 400, 'INVALID_MODEL_NAME', "no '..'");
    await expectError(await t.post('/models/linear/1.5/predict', LINEAR_INPUT), 400, 'INVALID_MODEL_NAME', 'invalid version');
    await expectError(await t.post('/models/linear/0/predict', LINEAR_INPUT), 400, 'INVALID_MODEL_NAME', 'positive integer');
  });

  it('oversized body', async () => {
    const rows = Array.from({ length: 1000 }, () => [1, 2, 3, 4]);
    await expectError(await t.post('/models/linear/1/predict', { inputs: { input: rows } }), 413, 'PAYLOAD_TOO_LARGE', '4096');
  });

  it('bad timeout header', async () => {
    await expectError(await t.post('/models/linear/1/predict', LINEAR_INPUT, { 'x-request-timeout-ms': 'soon' }), 400, 'INVALID_REQUEST', 'timeout');
  });

  it('unknown endpoint', async () => {
    const response = await fetch(t.url + '/nope');
    await expectError(response, 404, 'NOT_FOUND', '/nope');
  });
});

describe('metadata and health', () => {
  it('GET /models/:name lists versions with states and OIP tensor metadata', async () => {
    const response = await fetch(t.url + '/models/multi_io');
    const body = (await response.json()) as { versions: Array<{ version: number; state: string; inputs: unknown; outputs: unknown }> };
    expect(body.versions.map(({ version, state, inputs, outputs }) => ({ version, state, inputs, outputs }))).toEqual([
      { version: 1, state: 'READY', ...MULTI_IO_SIGNATURE },
    ]);
    const list = (await (await fetch(t.url + '/models')).json()) as { models: Array<{ name: string }> };
    expect(list.models.map((m) => m.name).sort()).toEqual(['linear', 'multi_io', 'no_batch']);
  });

  it('healthz and readyz answer 200 when started', async () => {
    expect((await fetch(t.url + '/healthz')).status).toBe(200);
    expect(await (await fetch(t.url + '/readyz')).json()).toEqual({ ready: true, reasons: [] });
  });
});
