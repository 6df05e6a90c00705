/**
 * Bad rollout requests over real HTTP, each a 4xx from the error catalog with a clear message and
 * nothing written: unknown model or version, a version that is not READY, a target the default
 * already serves, a default that is a split, a second rollout of one model, nonsense settings,
 * aborting what does not run; and 501 without Redis.
 */
import { expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { linearVersions } from '../support/models.js';
import { randomPrefix, testRedis } from '../support/redis.js';

const TOKEN = 'rollout-requests-token';

function admin(t: TestGateway, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(t.url + path, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

it('refuses bad rollouts with a clear 4xx and writes nothing', async () => {
  const prefix = randomPrefix();
  // Version 3 is not an ONNX file: it stays FAILED.
  const t = await startTestGateway({
    models: { linear: { ...linearVersions(1, 2), 3: new TextEncoder().encode('not a model') } },
    env: { ADMIN_TOKEN: TOKEN, ROLLOUT_MIN_INTERVAL_MS: '1000' },
    redis: { prefix },
  });
  await admin(t, 'PUT', '/admin/routes/linear', { default: '1' });
  const post = (body: unknown) => admin(t, 'POST', '/admin/rollouts', body);

  expect((await expectError(post({ model: 'nope', version: 2 }), 404, 'MODEL_NOT_FOUND')).message).toContain("no model named 'nope'");
  expect((await expectError(post({ model: 'linear', version: 9 }), 404, 'VERSION_NOT_FOUND')).message).toContain('no version 9');
  expect((await expectError(post({ model: 'linear', version: 3 }), 409, 'ROLLOUT_VERSION_NOT_READY')).message).toMatch(/target version 3 of model 'linear' is FAILED/);
  expect((await expectError(post({ model: 'linear', version: 1 }), 400, 'INVALID_ROLLOUT')).message).toContain('serves already');
  const nonsense: Array<[unknown, RegExp]> = [
    [{ model: 'linear', version: 2, step: 0 }, /step must be at least 1/],
    [{ model: 'linear', version: 2, step: -5 }, /step must be at least 1/],
    [{ model: 'linear', version: 2, max_weight: 101 }, /max_weight must be at most 100/],
    [{ model: 'linear', version: 2, interval_ms: 500 }, /interval_ms must be at least 1000 \(ROLLOUT_MIN_INTERVAL_MS\)/],
    [{ model: 'linear', version: 2, max_p99_ratio: 0.5 }, /max_p99_ratio must be at least 1/],
    [{ model: 'linear', version: 2, max_error_rate_increase: -1 }, /max_error_rate_increase must be at least 0/],
    [{ model: 'linear', version: 2, min_requests: 0 }, /min_requests must be at least 1/],
    [{ model: 'linear', version: 2, max_failed_checks: 0 }, /max_failed_checks must be at least 1/],
    [{ model: 'linear', version: 2, stepp: 10 }, /unknown setting "stepp"/],
    [{ model: 'linear', version: '2' }, /version/],
  ];
  for (const [body, message] of nonsense) {
    expect((await expectError(post(body), 400, 'INVALID_ROLLOUT')).message, JSON.stringify(body)).toMatch(message);
  }
  await expectError(post([1, 2]), 400, 'INVALID_REQUEST');
  await expectError(admin(t, 'GET', '/admin/rollouts/linear'), 404, 'ROLLOUT_NOT_FOUND');
  await expectError(admin(t, 'POST', '/admin/rollouts/linear/abort'), 404, 'ROLLOUT_NOT_FOUND');
  // Nothing was written: no rollout, the route as it was.
  expect(await testRedis().exists(`${prefix}rollouts:linear`)).toBe(0);
  expect(await (await admin(t, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '1' });

  // A default that is already a split is no single primary.
  await admin(t, 'PUT', '/admin/routes/linear', { default: '1:50,2:50' });
  expect((await expectError(post({ model: 'linear', version: 2 }), 400, 'INVALID_ROLLOUT')).message).toContain('already a split (1:50,2:50)');
  await admin(t, 'PUT', '/admin/routes/linear', { default: '1' });

  // A second rollout of the same model, while the first runs; then abort twice.
  expect((await post({ model: 'linear', version: 2, interval_ms: 60_000 })).status).toBe(201);
  const second = await expectError(post({ model: 'linear', version: 2 }), 409, 'ROLLOUT_IN_PROGRESS');
  expect(second.message).toContain("model 'linear' already has a rollout running (version 1 -> 2, canary at 10%)");
  expect(await (await admin(t, 'GET', '/admin/routes/linear')).json()).toEqual({ default: '1:90,2:10' });
  expect((await admin(t, 'DELETE', '/admin/rollouts/linear')).status).toBe(200);
  expect((await expectError(admin(t, 'POST', '/admin/rollouts/linear/abort'), 409, 'ROLLOUT_FINISHED')).message).toContain('already ended (aborted)');
  // Ended: a new rollout of the model may start.
  expect((await post({ model: 'linear', version: 2, interval_ms: 60_000 })).status).toBe(201);
});

it('answers 501 ROLLOUTS_UNAVAILABLE without Redis', async () => {
  const t = await startTestGateway({ models: { linear: linearVersions(1, 2) }, env: { ADMIN_TOKEN: TOKEN } });
  await expectError(admin(t, 'POST', '/admin/rollouts', { model: 'linear', version: 2 }), 501, 'ROLLOUTS_UNAVAILABLE');
  await expectError(admin(t, 'GET', '/admin/rollouts'), 501, 'ROLLOUTS_UNAVAILABLE');
});

it('needs the admin token', async () => {
  const t = await startTestGateway({ models: { linear: linearVersions(1, 2) }, env: { ADMIN_TOKEN: TOKEN }, redis: true });
  const response = await fetch(`${t.url}/admin/rollouts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"linear","version":2}' });
  await expectError(response, 401, 'UNAUTHORIZED');
});
