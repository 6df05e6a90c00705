/**
 * The Open Inference Protocol endpoints other than datatypes and errors: health, server and model
 * metadata, readiness, versions and aliases, request ids, output selection, parameters, the
 * timeout parameter, compressed requests, statistics and the model repository extension.
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectV2Error } from '../support/http.js';
import { identityModel, LINEAR_V2_INPUT, linearModel, linearVersions, multiIoModel } from '../support/models.js';
import { json, parseInferResponse, send, serializeBytes } from './oip-wire.js';

let t: TestGateway;
const ADMIN_TOKEN = 'v2-test-admin-token';

beforeAll(async () => {
  t = await startTestGateway({
    env: { ADMIN_TOKEN },
    models: {
      linear: linearVersions(1, 2),
      multi_io: { 1: multiIoModel() },
      counted: { 1: identityModel('INT32', [-1, 2]) },
      id_fp32: { 1: identityModel('FP32', [-1]) },
      spare: { 1: linearModel(1) },
      broken: { 1: new Uint8Array([0x08, 0x01, 0xff, 0xff]) },
    },
  });
});
afterAll(() => t.close());

/** The repository extension is management: it needs the admin token. */
function manage(path: string, body?: string) {
  return send(t.url, 'POST', path, body, { Authorization: `Bearer ${ADMIN_TOKEN}` });
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return send(t.url, 'POST', path, typeof body === 'string' ? body : JSON.stringify(body), { 'Content-Type': 'application/json', ...headers });
}

describe('health and server metadata', () => {
  it('is live and ready', async () => {
    const live = await send(t.url, 'GET', '/v2/health/live');
    expect({ status: live.status, body: json(live) }).toEqual({ status: 200, body: { live: true } });
    const ready = await send(t.url, 'GET', '/v2/health/ready');
    expect(ready.status).toBe(200);
    expect(json(ready)).toMatchObject({ ready: true });
  });

  it('names itself and the extensions it supports', async () => {
    const response = await send(t.url, 'GET', '/v2');
    expect(response.status).toBe(200);
    const body = json(response);
    expect(typeof body.name).toBe('string');
    expect(typeof body.version).toBe('string');
    expect(body.extensions).toEqual(expect.arrayContaining(['binary_tensor_data', 'model_repository', 'statistics']));
  });
});

describe('model readiness, versions and aliases', () => {
  it('reports a ready model and each ready version', async () => {
    for (const path of ['/v2/models/linear/ready', '/v2/models/linear/versions/1/ready', '/v2/models/linear/versions/2/ready']) {
      const response = await send(t.url, 'GET', path);
      expect({ path, status: response.status, body: json(response) }).toEqual({ path, status: 200, body: { name: 'linear', ready: true } });
    }
  });

  it('lists every servable version in the metadata', async () => {
    expect(json(await send(t.url, 'GET', '/v2/models/linear')).versions).toEqual(['1', '2']);
  });

  it('serves an integer version, the default route (latest without one), and aliases from the routing table', async () => {
    const version = async (path: string) => json(await post(path, { inputs: [LINEAR_V2_INPUT] }));
    expect(await version('/v2/models/linear/versions/1/infer')).toMatchObject({ model_name: 'linear', model_version: '1', outputs: [{ data: [5, 1.5] }] });
    expect(await version('/v2/models/linear/infer')).toMatchObject({ model_version: '2', outputs: [{ data: [10, 3] }] });

    const file = join(t.repo, 'routes.json');
    await writeFile(`${file}.tmp`, JSON.stringify({ linear: { stable: '1', default: 'stable' } }));
    await rename(`${file}.tmp`, file);
    await eventually(async () => (await version('/v2/models/linear/infer')).model_version === '1', 10_000, 'default route -> stable -> 1');
    expect(await version('/v2/models/linear/versions/stable/infer')).toMatchObject({ model_version: '1' });
    const metadata = await send(t.url, 'GET', '/v2/models/linear/versions/stable');
    expect(json(metadata)).toMatchObject({ name: 'linear', platform: 'onnxruntime_onnx' });
    expect((await send(t.url, 'GET', '/v2/models/linear/versions/stable/ready')).status).toBe(200);
  });
});

describe('inference requests', () => {
  it('echoes the request id, and leaves it out when none was given', async () => {
    expect(json(await post('/v2/models/linear/versions/1/infer', { id: 'req-42', inputs: [LINEAR_V2_INPUT] })).id).toBe('req-42');
    expect(json(await post('/v2/models/linear/versions/1/infer', { inputs: [LINEAR_V2_INPUT] }))).not.toHaveProperty('id');
  });

  it('accepts request, input and output parameters it does not use', async () => {
    const response = await post('/v2/models/linear/versions/1/infer', {
      parameters: { priority: 1, my_custom_parameter: 42, flag: true, note: 'x' },
      inputs: [{ ...LINEAR_V2_INPUT, parameters: { anything: 'goes' } }],
      outputs: [{ name: 'output', parameters: { other: 1 } }],
    });
    expect(response.status).toBe(200);
  });

  it('returns only the requested outputs, in the order asked, each as JSON or binary data as asked', async () => {
    const response = await post('/v2/models/multi_io/infer', {
      inputs: [
        { name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
        { name: 'ids', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] },
        { name: 'mask', shape: [1, 3], datatype: 'BOOL', data: [true, false, true] },
        { name: 'text', shape: [1, 2], datatype: 'BYTES', data: ['a', 'bc'] },
      ],
      // binary_data on an output overrides binary_data_output for that output.
      parameters: { binary_data_output: true },
      outputs: [{ name: 'text_copy' }, { name: 'sum', parameters: { binary_data: false } }, { name: 'mask_not' }],
    });
    expect(response.status).toBe(200);
    const parsed = parseInferResponse(response);
    expect(parsed.json.outputs.map((o: { name: string }) => o.name)).toEqual(['text_copy', 'sum', 'mask_not']);
    expect(parsed.json.outputs[1]).toEqual({ name: 'sum', datatype: 'FP32', shape: [1, 1], data: [10] });
    expect(parsed.binary.get('text_copy')!.equals(serializeBytes(['a', 'bc']))).toBe(true);
    expect([...parsed.binary.get('mask_not')!]).toEqual([0, 1, 0]);
  });

  it('takes a gzip-compressed body (Content-Encoding), as Triton clients can send', async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ inputs: [LINEAR_V2_INPUT] })));
    const response = await send(t.url, 'POST', '/v2/models/linear/versions/1/infer', body, { 'Content-Encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect(json(response).outputs[0].data).toEqual([5, 1.5]);
  });

  it('answers 504 when the timeout parameter (microseconds) has passed before the request can run', async () => {
    // A 1 µs budget is spent long before a JSON body of 200 000 numbers is parsed and validated.
    const data = Array.from({ length: 200_000 }, (_, i) => i % 1000);
    await expectV2Error(post('/v2/models/id_fp32/infer', { inputs: [{ name: 'input', shape: [data.length], datatype: 'FP32', data }], parameters: { timeout: 1 } }), 504);
    const generous = await post('/v2/models/id_fp32/infer', {
      inputs: [{ name: 'input', shape: [3], datatype: 'FP32', data: [1, 2, 3] }],
      parameters: { timeout: 60_000_000 },
    });
    expect(generous.status).toBe(200);
  });
});

describe('statistics extension', () => {
  it('counts successful inferences, executions and durations per version, in Triton’s shape', async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await post('/v2/models/counted/infer', { inputs: [{ name: 'input', shape: [1, 2], datatype: 'INT32', data: [i, i] }] });
      expect(ok.status).toBe(200);
    }
    await expectV2Error(post('/v2/models/counted/infer', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] }] }), 400);

    for (const path of ['/v2/models/counted/stats', '/v2/models/counted/versions/1/stats']) {
      const response = await send(t.url, 'GET', path);
      expect(response.status).toBe(200);
      const { model_stats: stats } = json(response);
      expect(stats).toHaveLength(1);
      const [stat] = stats;
      expect(stat).toMatchObject({ name: 'counted', version: '1', inference_count: 3 });
      expect(stat.last_inference).toBeGreaterThan(0);
      expect(stat.execution_count).toBeGreaterThanOrEqual(1);
      expect(stat.execution_count).toBeLessThanOrEqual(3);
      expect(stat.inference_stats.success.count).toBe(3);
      expect(stat.inference_stats.fail.count).toBe(0);
      expect(stat.inference_stats.queue.count).toBe(3);
      for (const key of ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output']) {
        expect(Object.keys(stat.inference_stats[key]).sort()).toEqual(['count', 'ns']);
      }
      expect(Array.isArray(stat.batch_stats)).toBe(true);
    }
    const all = json(await send(t.url, 'GET', '/v2/models/stats')).model_stats as Array<{ name: string; version: string }>;
    expect(all.map((s) => `${s.name}/${s.version}`)).toEqual(expect.arrayContaining(['counted/1', 'linear/1', 'linear/2', 'multi_io/1']));
  });
});

describe('model repository extension', () => {
  type IndexEntry = { name: string; version?: string; state: string; reason: string };
  const index = async (body?: string): Promise<IndexEntry[]> => {
    const response = await manage('/v2/repository/index', body);
    expect(response.status).toBe(200);
    return json(response);
  };
  const entry = (entries: IndexEntry[], name: string) => entries.find((e) => e.name === name && e.version === '1');

  it('indexes every model with version, state and reason; a FAILED load shows its reason', async () => {
    const entries = await index();
    expect(entry(entries, 'linear')).toEqual({ name: 'linear', version: '1', state: 'READY', reason: '' });
    const broken = entry(entries, 'broken')!;
    expect(broken.state).toBe('FAILED');
    expect(broken.reason.length).toBeGreaterThan(0);
    const ready = await index(JSON.stringify({ ready: true }));
    expect(ready.every((e) => e.state === 'READY')).toBe(true);
    expect(entry(ready, 'broken')).toBeUndefined();
    expect(entry(ready, 'linear')).toBeDefined();
  });

  it('unloads every version, then loads them again from disk (new weights included)', async () => {
    const unload = await manage('/v2/repository/models/spare/unload', JSON.stringify({ parameters: { unload_dependents: false } }));
    expect(unload.status).toBe(200);
    expect(entry(await index(), 'spare')).toMatchObject({ state: 'UNLOADED' });
    const notReady = await send(t.url, 'GET', '/v2/models/spare/ready');
    expect(notReady.status).toBe(503);
    expect(json(notReady)).toMatchObject({ name: 'spare', ready: false });
    await expectV2Error(post('/v2/models/spare/infer', { inputs: [LINEAR_V2_INPUT] }), 503);

    await t.writeLinear('spare', 1, 3);
    const load = await manage('/v2/repository/models/spare/load', '{}');
    expect(load.status).toBe(200);
    expect((await send(t.url, 'GET', '/v2/models/spare/ready')).status).toBe(200);
    expect(entry(await index(), 'spare')).toMatchObject({ state: 'READY' });
    const answer = json(await post('/v2/models/spare/infer', { inputs: [LINEAR_V2_INPUT] }));
    expect(answer.outputs[0].data).toEqual([15, 4.5]);
  });

  it('answers a failed load with its reason, and unknown models with 404', async () => {
    await expectV2Error(manage('/v2/repository/models/broken/load'), 400, 'broken');
    expect(entry(await index(), 'broken')!.state).toBe('FAILED');
    await expectV2Error(manage('/v2/repository/models/nope/load'), 404, 'nope');
    await expectV2Error(manage('/v2/repository/models/nope/unload'), 404, 'nope');
  });

  it('refuses load parameters that would replace the model from the request', async () => {
    await expectV2Error(manage('/v2/repository/models/linear/load', JSON.stringify({ parameters: { config: '{}' } })), 400, 'config');
  });
});
