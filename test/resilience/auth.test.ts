/**
 * API keys for the inference API and the admin token for management, over real HTTP: missing and
 * wrong credentials are 401 with a Bearer challenge, right ones pass, health stays open, and the
 * V2 repository endpoints are off (404) until ADMIN_TOKEN is set.
 */
import { describe, expect, it } from 'vitest';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError, expectV2Error } from '../support/http.js';
import { LINEAR_V2_INPUT } from '../support/models.js';

const gateway = (env: Record<string, string>): Promise<TestGateway> => startTestGateway({ env });

const V2_INPUT = { inputs: [LINEAR_V2_INPUT] };

describe('API keys', () => {
  it('refuses inference without a key or with a wrong one, and serves the configured keys', async () => {
    const g = await gateway({ API_KEYS: 'alpha-key, beta-key' });

    const missing = await g.post('/models/linear/predict', LINEAR_INPUT);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectError(missing, 401, 'UNAUTHORIZED', 'x-api-key');

    await expectError(g.post('/models/linear/predict', LINEAR_INPUT, { authorization: 'Bearer alpha-ke' }), 401, 'UNAUTHORIZED', 'not valid');
    await expectError(g.post('/models/linear/predict', LINEAR_INPUT, { 'x-api-key': 'alpha-key-and-more' }), 401, 'UNAUTHORIZED');
    await expectError(g.post('/models/linear/predict', LINEAR_INPUT, { authorization: 'Basic YWxwaGEta2V5' }), 401, 'UNAUTHORIZED');

    expect((await g.post('/models/linear/predict', LINEAR_INPUT, { authorization: 'Bearer alpha-key' })).status).toBe(200);
    expect((await g.post('/models/linear/1/predict', LINEAR_INPUT, { 'x-api-key': 'beta-key' })).status).toBe(200);

    // V2 inference: the same keys, the protocol's error shape.
    const v2Missing = await g.post('/v2/models/linear/infer', V2_INPUT);
    expect(v2Missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectV2Error(v2Missing, 401, 'API key');
    expect((await g.post('/v2/models/linear/infer', V2_INPUT, { authorization: 'Bearer beta-key' })).status).toBe(200);

    // Model metadata is part of the inference API; health is not.
    await expectError(fetch(`${g.url}/models/linear`), 401, 'UNAUTHORIZED');
    expect((await fetch(`${g.url}/models/linear`, { headers: { 'x-api-key': 'alpha-key' } })).status).toBe(200);
    expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${g.url}/v2/health/ready`)).status).toBe(200);
  });

  it('leaves inference open when API_KEYS is unset', async () => {
    const g = await gateway({});
    expect((await g.post('/models/linear/predict', LINEAR_INPUT)).status).toBe(200);
    expect((await g.post('/v2/models/linear/infer', V2_INPUT)).status).toBe(200);
  });
});

describe('management (V2 repository extension)', () => {
  it('is off, 404, while no ADMIN_TOKEN is configured', async () => {
    const g = await gateway({});
    for (const path of ['/v2/repository/index', '/v2/repository/models/linear/load', '/v2/repository/models/linear/unload']) {
      await expectV2Error(g.post(path, '', { authorization: 'Bearer anything' }), 404, 'ADMIN_TOKEN');
    }
    // Nothing was unloaded.
    expect((await g.post('/models/linear/predict', LINEAR_INPUT)).status).toBe(200);
  });

  it('needs the admin token: none or a wrong one is 401, an API key is not enough, the token loads', async () => {
    const g = await gateway({ ADMIN_TOKEN: 'admin-secret', API_KEYS: 'client-key' });
    const load = (headers: Record<string, string>) => g.post('/v2/repository/models/linear/load', '', headers);

    const missing = await load({});
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectV2Error(missing, 401, 'bearer token');
    await expectV2Error(load({ authorization: 'Bearer admin-secre' }), 401);
    await expectV2Error(load({ authorization: 'Bearer admin-secret-and-more' }), 401);
    await expectV2Error(load({ authorization: 'Bearer client-key' }), 401);
    await expectV2Error(g.post('/v2/repository/models/linear/unload', '', { authorization: 'Bearer wrong' }), 401);

    expect((await load({ authorization: 'Bearer admin-secret' })).status).toBe(200);
    const index = await g.post('/v2/repository/index', '', { authorization: 'Bearer admin-secret' });
    expect(index.status).toBe(200);
    expect(await index.json()).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'linear', state: 'READY' })]));
  });
});
