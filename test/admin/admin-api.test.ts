/**
 * The admin API over real HTTP: the ADMIN_TOKEN check (off, missing, wrong, right), route edits
 * validated and written through the routing source (file and Redis), and model load/unload.
 */
import { afterEach, expect, it } from 'vitest';
import { buildLinearModel } from '../../tools/model-builder/index.js';
import { LINEAR_INPUT, eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { randomPrefix, testRedisUrl } from '../support/redis.js';

const TOKEN = 'test-admin-token-0123456789';
const twoVersions = {
  linear: { 1: buildLinearModel({ inputSize: 4, outputSize: 2, scale: 1 }), 2: buildLinearModel({ inputSize: 4, outputSize: 2, scale: 2 }) },
};

const gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function start(env: Record<string, string> = {}): Promise<TestGateway> {
  const gateway = await startTestGateway({ models: twoVersions, env });
  gateways.push(gateway);
  return gateway;
}

function admin(gateway: TestGateway, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(gateway.url + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

it('answers 404 on every management endpoint when no ADMIN_TOKEN is configured', async () => {
  const t = await start();
  for (const [method, path] of [
    ['GET', '/admin/routes/linear'],
    ['PUT', '/admin/routes/linear'],
    ['DELETE', '/admin/routes/linear'],
    ['GET', '/admin/models'],
    ['POST', '/admin/models/linear/unload'],
  ] as const) {
    const response = await admin(t, method, path, method === 'PUT' ? { default: '1' } : undefined);
    expect(response.status, `${method} ${path}`).toBe(404);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error).toEqual({ code: 'NOT_FOUND', message: 'management endpoints are disabled; set ADMIN_TOKEN' });
  }
  // Nothing was unloaded: the model still serves.
  expect((await t.post('/models/linear/predict', LINEAR_INPUT)).status).toBe(200);
});

it('answers 401 with WWW-Authenticate without a bearer token or with a wrong one', async () => {
  const t = await start({ ADMIN_TOKEN: TOKEN });
  const missing = await admin(t, 'GET', '/admin/routes/linear', undefined, null);
  expect(missing.status).toBe(401);
  expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
  expect(await errorCode(missing)).toBe('UNAUTHORIZED');

  for (const wrong of [`${TOKEN}x`, TOKEN.slice(0, -1), 'short']) {
    const response = await admin(t, 'PUT', '/admin/routes/linear', { default: '1' }, wrong);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await errorCode(response)).toBe('UNAUTHORIZED');
  }
  const basic = await fetch(`${t.url}/admin/models`, { headers: { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` } });
  expect(basic.status).toBe(401);

  // The refused PUT wrote nothing; the right token reads the (empty) table.
  const ok = await admin(t, 'GET', '/admin/routes/linear');
  expect(ok.status).toBe(200);
  expect(await ok.json()).toEqual({});
});

it('validates a PUT (unknown versions unless ?force=true, loops always), returns the map on GET and removes it on DELETE', async () => {
  const t = await start({ ADMIN_TOKEN: TOKEN });

  const unknown = await admin(t, 'PUT', '/admin/routes/linear', { default: 'stable', stable: '2', canary: '2:90,7:10' });
  expect(unknown.status).toBe(400);
  const unknownBody = (await unknown.json()) as { error: { code: string; message: string } };
  expect(unknownBody.error.code).toBe('INVALID_REQUEST');
  expect(unknownBody.error.message).toContain('version 7');
  expect(await (await admin(t, 'GET', '/admin/routes/linear')).json()).toEqual({});

  const noModel = await admin(t, 'PUT', '/admin/routes/ghost', { default: '1' });
  expect(noModel.status).toBe(404);
  expect(await errorCode(noModel)).toBe('MODEL_NOT_FOUND');

  const loop = await admin(t, 'PUT', '/admin/routes/linear?force=true', { default: 'stable', stable: 'default' });
  expect(loop.status).toBe(400);
  expect(await errorCode(loop)).toBe('INVALID_REQUEST');

  const malformed = await admin(t, 'PUT', '/admin/routes/linear', { default: '2:abc' });
  expect(malformed.status).toBe(400);
  const notObject = await admin(t, 'PUT', '/admin/routes/linear', ['1']);
  expect(notObject.status).toBe(400);
  const notString = await admin(t, 'PUT', '/admin/routes/linear', { default: 1 });
  expect(notString.status).toBe(400);

  const forced = await admin(t, 'PUT', '/admin/routes/linear?force=true', { default: 'stable', stable: '1', canary: '2:90,7:10' });
  expect(forced.status).toBe(200);
  expect(await forced.json()).toEqual({ default: 'stable', stable: '1', canary: '2:90,7:10' });

  const valid = { default: 'stable', stable: '1', canary: '1:90,2:10' };
  const put = await admin(t, 'PUT', '/admin/routes/linear', valid);
  expect(put.status).toBe(200);
  expect(await (await admin(t, 'GET', '/admin/routes/linear')).json()).toEqual(valid);
  expect(await (await admin(t, 'GET', '/admin/routes')).json()).toEqual({ linear: valid });
  // Written through the routing source: this gateway serves it.
  await eventually(async () => (await t.post('/models/linear/predict', LINEAR_INPUT)).headers.get('x-model-version') === '1', 5_000);

  const rmAlias = await admin(t, 'DELETE', '/admin/routes/linear/canary');
  expect(await rmAlias.json()).toEqual({ model: 'linear', alias: 'canary', removed: true });
  expect(await (await admin(t, 'GET', '/admin/routes/linear')).json()).toEqual({ default: 'stable', stable: '1' });

  const rm = await admin(t, 'DELETE', '/admin/routes/linear');
  expect(await rm.json()).toEqual({ model: 'linear', removed: true });
  expect(await (await admin(t, 'GET', '/admin/routes/linear')).json()).toEqual({});
  expect(await (await admin(t, 'DELETE', '/admin/routes/linear')).json()).toEqual({ model: 'linear', removed: false });
  // Back to latest.
  await eventually(async () => (await t.post('/models/linear/predict', LINEAR_INPUT)).headers.get('x-model-version') === '2', 5_000);

  const badName = await admin(t, 'GET', '/admin/routes/..');
  expect(badName.status).toBeGreaterThanOrEqual(400);
  expect(badName.status).toBeLessThan(500);
});

it('writes through Redis so another replica on the same prefix applies the PUT', async () => {
  const env = { ADMIN_TOKEN: TOKEN, REDIS_URL: testRedisUrl(), REDIS_PREFIX: randomPrefix() };
  const a = await start(env);
  const b = await start(env);
  expect((await b.gateway.router.resolve('linear')).version).toBe(2);
  const put = await admin(a, 'PUT', '/admin/routes/linear', { default: '1' });
  expect(put.status).toBe(200);
  await eventually(async () => (await b.gateway.router.resolve('linear')).version === 1, 5_000, 'replica b applies the PUT');
  expect(await (await admin(b, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '1' });
});

it('lists, unloads and loads models', async () => {
  const t = await start({ ADMIN_TOKEN: TOKEN });
  const listed = (await (await admin(t, 'GET', '/admin/models')).json()) as { models: Array<{ name: string; version: string; state: string }> };
  expect(listed.models.map((m) => [m.name, m.version, m.state])).toEqual([
    ['linear', '1', 'READY'],
    ['linear', '2', 'READY'],
  ]);

  const unload = await admin(t, 'POST', '/admin/models/linear/unload');
  expect(unload.status).toBe(200);
  // Unloaded: the model no longer serves (the exact status is the predict route's business).
  expect((await t.post('/models/linear/predict', LINEAR_INPUT)).status).not.toBe(200);

  const load = await admin(t, 'POST', '/admin/models/linear/load');
  expect(load.status).toBe(200);
  const loaded = (await load.json()) as { versions: Array<{ state: string }> };
  expect(loaded.versions.map((v) => v.state)).toEqual(['READY', 'READY']);
  expect((await t.post('/models/linear/predict', LINEAR_INPUT)).status).toBe(200);

  const missing = await admin(t, 'POST', '/admin/models/ghost/load');
  expect(missing.status).toBe(404);
  expect(await errorCode(missing)).toBe('MODEL_NOT_FOUND');
});
