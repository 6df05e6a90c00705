/**
 * What a client gets for a model that was unloaded and for one that was deleted, on both
 * protocols (the README's answer to "404 or 503 after an unload?"):
 *
 * - unloaded through the repository or admin API, its files still on disk: 503 VERSION_NOT_READY
 *   "in the repository but not loaded", with Retry-After, until it is loaded again. Known but not
 *   available, as Triton answers a version that is not at ready state, and as the error table
 *   says (404 = unknown, 503 = not ready); GET /models/<name> still describes it, UNLOADED.
 * - deleted (its folder removed): 404 MODEL_NOT_FOUND, the model is gone, as Triton and TF
 *   Serving answer a model that is not in the repository.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LINEAR_INPUT, eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError, expectV2Error } from '../support/http.js';
import { LINEAR_V2_INPUT, linearModel, linearVersions } from '../support/models.js';

const TOKEN = 'unload-test-token-0123456789';
const V2_BODY = { inputs: [LINEAR_V2_INPUT] };

function manage(t: TestGateway, path: string): Promise<Response> {
  return t.post(path, {}, { authorization: `Bearer ${TOKEN}` });
}

async function expectUnavailable(t: TestGateway, name: string): Promise<void> {
  for (const path of [`/models/${name}/predict`, `/models/${name}/1/predict`]) {
    const response = await t.post(path, LINEAR_INPUT);
    expect(response.headers.get('retry-after'), path).toBe('1');
    await expectError(response, 503, 'VERSION_NOT_READY', `'${name}' is in the repository but not loaded`);
  }
  for (const path of [`/v2/models/${name}/infer`, `/v2/models/${name}/versions/1/infer`]) {
    await expectV2Error(t.post(path, V2_BODY), 503, 'in the repository but not loaded');
  }
  for (const path of [`/v2/models/${name}/ready`, `/v2/models/${name}/versions/1/ready`]) {
    const response = await t.get(path);
    expect(response.status, path).toBe(503);
    expect(await response.json()).toMatchObject({ name, ready: false });
  }
  await expectV2Error(t.get(`/v2/models/${name}`), 503, 'not loaded');
}

async function expectGone(t: TestGateway, name: string): Promise<void> {
  for (const path of [`/models/${name}/predict`, `/models/${name}/1/predict`]) {
    await expectError(t.post(path, LINEAR_INPUT), 404, 'MODEL_NOT_FOUND', `'${name}'`);
  }
  for (const path of [`/v2/models/${name}/infer`, `/v2/models/${name}/versions/1/infer`, `/v2/models/${name}/ready`, `/v2/models/${name}`]) {
    const response = path.endsWith('/infer') ? t.post(path, V2_BODY) : t.get(path);
    await expectV2Error(response, 404, `'${name}'`);
  }
  await expectError(t.get(`/models/${name}`), 404, 'MODEL_NOT_FOUND');
}

it('answers 503 "not loaded" for an unloaded model on both protocols, describes it as UNLOADED, and serves it again once loaded', async () => {
  const t = await startTestGateway({ env: { ADMIN_TOKEN: TOKEN }, models: { linear: linearVersions(1, 2) } });
  for (const unload of ['/v2/repository/models/linear/unload', '/admin/models/linear/unload']) {
    expect((await manage(t, unload)).status).toBe(200);
    await expectUnavailable(t, 'linear');
    const described = (await (await t.get('/models/linear')).json()) as { versions: Array<{ version: number; state: string; reason: string }> };
    expect(described.versions.map(({ version, state, reason }) => ({ version, state, reason }))).toEqual([
      { version: 1, state: 'UNLOADED', reason: 'unloaded' },
      { version: 2, state: 'UNLOADED', reason: 'unloaded' },
    ]);
    expect((await manage(t, '/v2/repository/models/linear/load')).status).toBe(200);
    expect((await t.post('/models/linear/2/predict', LINEAR_INPUT)).status).toBe(200);
    expect((await t.post('/v2/models/linear/versions/1/infer', V2_BODY)).status).toBe(200);
  }
});

it('answers 404 for a deleted model on both protocols', async () => {
  const t = await startTestGateway({ models: { linear: { 1: linearModel(1) }, spare: { 1: linearModel(3) } } });
  expect((await t.post('/models/spare/1/predict', LINEAR_INPUT)).status).toBe(200);
  await rm(join(t.repo, 'spare'), { recursive: true });
  await eventually(() => !t.gateway.registry.has('spare'), 10_000, 'spare unloaded');
  await expectGone(t, 'spare');
  expect((await t.post('/models/linear/1/predict', LINEAR_INPUT)).status).toBe(200);
});
