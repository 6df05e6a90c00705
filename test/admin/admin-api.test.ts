/**
 * The admin API over real HTTP: the ADMIN_TOKEN check (off, missing, wrong, right), route edits
 * validated and written through the routing source (file and Redis), and model load/unload.
 */
import { expect, it } from 'vitest';
import { LINEAR_INPUT, eventually, startTestGateway, type RedisChoice, type TestGateway } from '../support/gateway.js';
import { expectError, json } from '../support/http.js';
import { linearVersions } from '../support/models.js';
import { randomPrefix } from '../support/redis.js';

const TOKEN = 'test-admin-token-0123456789';
const twoVersions = { linear: linearVersions(1, 2) };

function start(env: Record<string, string> = {}, redis?: RedisChoice): Promise<TestGateway> {
  return startTestGateway({ models: twoVersions, env, ...(redis ? { redis } : {}) });
}

function admin(gateway: TestGateway, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(gateway.url + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
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
    const error = await expectError(response, 404, 'NOT_FOUND');
    expect(error, `${method} ${path}`).toEqual({ code: 'NOT_FOUND', message: 'management endpoints are disabled; set ADMIN_TOKEN' });
  }
  // Nothing was unloaded: the model still serves.
  expect((await t.post('/models/linear/predict', LINEAR_INPUT)).status).toBe(200);
});

it('answers 401 with WWW-Authenticate without a bearer token or with a wrong one', async () => {
  const t = await start({ ADMIN_TOKEN: TOKEN });
  const missing = await admin(t, 'GET', '/admin/routes/linear', undefined, null);
  expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
  await expectError(missing, 401, 'UNAUTHORIZED');

  for (const wrong of [`${TOKEN}x`, TOKEN.slice(0, -1), 'short']) {
    const response = await admin(t, 'PUT', '/admin/routes/linear', { default: '1' }, wrong);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectError(response, 401, 'UNAUTHORIZED');
  }
  const basic = await fetch(`${t.url}/admin/models`, { headers: { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` } });
  await expectError(basic, 401, 'UNAUTHORIZED');

  // The refused PUT wrote nothing; the right token reads the (empty) table.
  const ok = await admin(t, 'GET', '/admin/routes/linear');
  expect(ok.status).toBe(200);
  expect(await ok.json()).toEqual({});
});

it('validates a PUT (unknown versions unless ?force=true, loops always), returns the map on GET and removes it on DELETE', async () => {
  const t = await start({ ADMIN_TOKEN: TOKEN });

  const unknown = await admin(t, 'PUT', '/admin/routes/linear', { default: 'stable', stable: '2', canary: '2:90,7:10' });
  await expectError(unknown, 400, 'INVALID_REQUEST', 'version 7');
  expect(await (await admin(t, 'GET', '/admin/routes/linear')).json()).toEqual({});

  await expectError(admin(t, 'PUT', '/admin/routes/ghost', { default: '1' }), 404, 'MODEL_NOT_FOUND', 'ghost');
  await expectError(admin(t, 'PUT', '/admin/routes/linear?force=true', { default: 'stable', stable: 'default' }), 400, 'INVALID_REQUEST');
  await expectError(admin(t, 'PUT', '/admin/routes/linear', { default: '2:abc' }), 400, 'INVALID_REQUEST');
  await expectError(admin(t, 'PUT', '/admin/routes/linear', ['1']), 400, 'INVALID_REQUEST', 'JSON object');
  await expectError(admin(t, 'PUT', '/admin/routes/linear', { default: 1 }), 400, 'INVALID_REQUEST', 'must be a string');

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
});

it('never lets a `..` name reach a route endpoint, sent byte for byte', async () => {
  const t = await start({ ADMIN_TOKEN: TOKEN });
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ default: '1' });
  const table = { default: 'stable', stable: '2' };
  expect((await admin(t, 'PUT', '/admin/routes/linear', table)).status).toBe(200);

  // A `..` segment, raw or %2E-encoded, is resolved by the server before any routing (as the URL
  // standard says), so no handler ever sees it as a name. Shown by where the path lands: this one
  // resolves onto linear's own endpoint and reads its table...
  const resolved = await t.raw('GET', '/admin/routes/ghost/../linear', undefined, auth);
  expect([resolved.status, json(resolved)]).toEqual([200, table]);
  // ...and these onto no endpoint at all; none of them wrote or removed anything.
  for (const [method, path, landed] of [
    ['GET', '/admin/routes/..', '/admin/'],
    ['PUT', '/admin/routes/..', '/admin/'],
    ['DELETE', '/admin/routes/..', '/admin/'],
    ['PUT', '/admin/routes/%2E%2E', '/admin/'],
    ['DELETE', '/admin/routes/linear/..', '/admin/routes/'],
    ['DELETE', '/admin/routes/linear/stable/%2e%2e', '/admin/routes/linear/'],
  ] as const) {
    const response = await t.raw(method, path, method === 'PUT' ? body : undefined, auth);
    await expectError(response, 404, 'NOT_FOUND', `no endpoint ${method} ${landed}`);
  }
  expect(await (await admin(t, 'GET', '/admin/routes')).json()).toEqual({ linear: table });

  // Names that keep their `..` to the handler are refused by name, and write nothing either.
  for (const [method, path, name] of [
    ['GET', '/admin/routes/..%2F', '../'],
    ['PUT', '/admin/routes/..%2Fetc', '../etc'],
    ['PUT', '/admin/routes/%2E%2E%2Flinear', '../linear'],
    ['DELETE', '/admin/routes/a..b', 'a..b'],
    ['DELETE', '/admin/routes/..%2Flinear/stable', '../linear'],
    ['GET', '/admin/routes/...', '...'],
  ] as const) {
    const response = await t.raw(method, path, method === 'PUT' ? body : undefined, auth);
    await expectError(response, 400, 'INVALID_MODEL_NAME', `invalid model name '${name}'`);
  }
  expect(await (await admin(t, 'GET', '/admin/routes')).json()).toEqual({ linear: table });
});

it('writes through Redis so another replica on the same prefix applies the PUT', async () => {
  const shared = { prefix: randomPrefix() };
  const a = await start({ ADMIN_TOKEN: TOKEN }, shared);
  const b = await start({ ADMIN_TOKEN: TOKEN }, shared);
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
  expect(((await unload.json()) as { versions: Array<{ state: string }> }).versions.map((v) => v.state)).toEqual(['UNLOADED', 'UNLOADED']);
  // Unloaded: not ready until loaded again, whichever way it is asked for (README: 503 VERSION_NOT_READY, "not loaded").
  for (const path of ['/models/linear/predict', '/models/linear/1/predict', '/models/linear/2/predict']) {
    await expectError(t.post(path, LINEAR_INPUT), 503, 'VERSION_NOT_READY', "'linear' is in the repository but not loaded");
  }

  const load = await admin(t, 'POST', '/admin/models/linear/load');
  expect(load.status).toBe(200);
  const loaded = (await load.json()) as { versions: Array<{ state: string }> };
  expect(loaded.versions.map((v) => v.state)).toEqual(['READY', 'READY']);
  expect((await t.post('/models/linear/predict', LINEAR_INPUT)).status).toBe(200);

  await expectError(admin(t, 'POST', '/admin/models/ghost/load'), 404, 'MODEL_NOT_FOUND');
});
