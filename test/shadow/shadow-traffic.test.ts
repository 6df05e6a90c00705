/**
 * Shadow traffic through a real gateway (real Redis with a random prefix, or the routes file; real
 * sessions; real HTTP): the client's answers come from the primary only, the mirrored copies are
 * counted and compared, and a shadow that fails, is dropped or is misconfigured never reaches
 * the client.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { runCli } from '../support/cli.js';
import { expectError } from '../support/http.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';
import { linearAnswer, linearModel, LINEAR_V2_INPUT, unfoldableConstantModel } from '../support/models.js';
import { randomPrefix, testRedis, testRedisUrl } from '../support/redis.js';

interface ShadowRow {
  version: number;
  mirrored: number;
  compared: number;
  agreed: number;
  disagreed: number;
  errors: number;
  dropped: number;
  max_abs_difference: number;
  argmax_rows: number;
  argmax_agreement_rate: number | null;
}

async function shadowOf(t: TestGateway, version: number): Promise<ShadowRow | undefined> {
  const body = (await (await t.get('/models/linear')).json()) as { shadow: { versions: ShadowRow[] } };
  return body.shadow.versions.find((row) => row.version === version);
}

/** Every mirrored request accounted for (none still running). */
async function settled(t: TestGateway, version: number, mirrored: number): Promise<ShadowRow> {
  let row: ShadowRow | undefined;
  await eventually(
    async () => {
      row = await shadowOf(t, version);
      return row !== undefined && row.mirrored === mirrored && row.compared + row.errors + row.dropped === mirrored;
    },
    20_000,
    `${mirrored} mirrored requests settled`,
  );
  return row!;
}

/** A native predict answered by the primary: version 1 with linear scale 1's values. */
async function expectPrimary(t: TestGateway): Promise<void> {
  const response = await t.post('/models/linear/predict', LINEAR_INPUT);
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get('x-model-version')).toBe('1');
  expect(((await response.json()) as { outputs: Record<string, number[][]> }).outputs).toEqual({ output: linearAnswer(1) });
}

async function expectPrimaryV2(t: TestGateway): Promise<void> {
  const response = await t.post('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT] });
  expect(response.status, await response.clone().text()).toBe(200);
  const body = (await response.json()) as { model_version: string; outputs: Array<{ data: number[] }> };
  expect(body.model_version).toBe('1');
  expect(body.outputs[0]!.data).toEqual(linearAnswer(1).flat());
}

async function metric(t: TestGateway, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return valueOf(parseExposition(await (await t.get('/metrics')).text()), name, labels);
}

async function withShadow(shadow: string, models: Record<number, Uint8Array>, env: Record<string, string> = {}): Promise<TestGateway> {
  const prefix = randomPrefix();
  await testRedis().hset(`${prefix}routes:linear`, { default: '1', shadow });
  return startTestGateway({ models: { linear: models }, redis: { prefix }, env });
}

it('at 100 %, mirrors every request to a version with other weights: the client gets the primary, the shadow disagrees by the right amount', async () => {
  const t = await withShadow('2:100', { 1: linearModel(1), 2: linearModel(3) });
  for (let i = 0; i < 20; i++) await expectPrimary(t);
  for (let i = 0; i < 10; i++) await expectPrimaryV2(t);

  const row = await settled(t, 2, 30);
  expect(row.errors).toBe(0);
  expect(row.compared).toBeGreaterThan(0);
  expect(row.agreed).toBe(0);
  expect(row.disagreed).toBe(row.compared);
  const expected = Math.max(...linearAnswer(3)[0]!.map((value, i) => Math.abs(value - linearAnswer(1)[0]![i]!)));
  expect(expected).toBeGreaterThan(0);
  expect(row.max_abs_difference).toBeCloseTo(expected, 5);

  // The same counts as metrics, labelled by model and shadow version.
  expect(await metric(t, 'switchyard_shadow_requests_total', { model: 'linear', shadow_version: '2', outcome: 'disagreed' })).toBe(row.disagreed);
  expect(await metric(t, 'switchyard_shadow_requests_total', { model: 'linear', shadow_version: '2', outcome: 'error' })).toBe(0);
  expect(await metric(t, 'switchyard_shadow_max_abs_difference', { model: 'linear', shadow_version: '2' })).toBeCloseTo(expected, 5);
});

it('shadowing a version to itself agrees fully: max difference 0, every argmax the same (routes file)', async () => {
  const t = await startTestGateway({ models: { linear: { 1: linearModel(1) } } });
  await t.writeRoutes({ linear: { default: '1', shadow: '1:100' } });
  await eventually(async () => {
    await expectPrimary(t);
    return (await shadowOf(t, 1)) !== undefined;
  }, 10_000, 'the routes file with the shadow applied');
  const before = (await settled(t, 1, (await shadowOf(t, 1))!.mirrored)).mirrored;
  for (let i = 0; i < 20; i++) await expectPrimary(t);
  for (let i = 0; i < 5; i++) await expectPrimaryV2(t);

  const row = await settled(t, 1, before + 25);
  expect(row.errors).toBe(0);
  expect(row.compared).toBeGreaterThan(0);
  expect(row.agreed).toBe(row.compared);
  expect(row.disagreed).toBe(0);
  expect(row.max_abs_difference).toBe(0);
  // [1, 2] float scores: one argmax row per compared request, all agreeing.
  expect(row.argmax_rows).toBe(row.compared);
  expect(row.argmax_agreement_rate).toBe(1);
});

it('at 10 %, mirrors about a tenth of the requests, every answer still the primary\'s', async () => {
  const t = await withShadow('2:10', { 1: linearModel(1), 2: linearModel(2) });
  const requests = 400;
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = 0; i < requests / 8; i++) await expectPrimary(t);
  }));
  let row: ShadowRow | undefined;
  await eventually(async () => {
    row = await shadowOf(t, 2);
    return row !== undefined && row.compared + row.errors + row.dropped === row.mirrored;
  }, 20_000, 'the shadows settled');
  // Binomial(400, 0.1): mean 40, standard deviation 6; 16..70 is beyond 4 deviations each side.
  expect(row!.mirrored).toBeGreaterThanOrEqual(16);
  expect(row!.mirrored).toBeLessThanOrEqual(70);
  expect(row!.errors).toBe(0);
  expect(row!.disagreed).toBe(row!.compared);
});

it('counts a shadow version that is FAILED, unknown or failing at run time as shadow errors; the client never sees them', async () => {
  const garbage = new TextEncoder().encode('this is not an onnx model');
  const t = await withShadow('2:100', { 1: linearModel(1), 2: garbage, 3: unfoldableConstantModel() });
  expect(t.gateway.registry.status('linear', 2)?.state).toBe('FAILED');
  for (let i = 0; i < 10; i++) await expectPrimary(t);
  expect(await settled(t, 2, 10)).toMatchObject({ errors: 10, compared: 0 });

  // A version that loads but whose every run fails (the shadow gets inputs it can not take, too).
  await testRedis().hset(`${t.redisPrefix}routes:linear`, 'shadow', '3:100');
  await eventually(async () => {
    await expectPrimary(t);
    return (await shadowOf(t, 3)) !== undefined;
  }, 10_000, 'the shadow moved to version 3');
  const start = (await settled(t, 3, (await shadowOf(t, 3))!.mirrored)).mirrored;
  for (let i = 0; i < 10; i++) await expectPrimaryV2(t);
  const row = await settled(t, 3, start + 10);
  expect(row.errors).toBe(row.mirrored);
  expect(row.compared).toBe(0);

  // A version the repository does not have.
  await testRedis().hset(`${t.redisPrefix}routes:linear`, 'shadow', '9:100');
  await eventually(async () => {
    await expectPrimary(t);
    return (await shadowOf(t, 9)) !== undefined;
  }, 10_000, 'the shadow moved to version 9');
  expect((await shadowOf(t, 9))!.errors).toBe((await shadowOf(t, 9))!.mirrored);
});

it('drops and counts shadows once the cap is full (cap 1, batches that wait 3 s)', async () => {
  const prefix = randomPrefix();
  await testRedis().hset(`${prefix}routes:linear`, { default: '1', shadow: '2:100' });
  const t = await startTestGateway({
    models: { linear: { 1: linearModel(1), 2: linearModel(2) } },
    redis: { prefix },
    env: { SHADOW_MAX_CONCURRENCY: '1', SHADOW_TIMEOUT_MS: '20000' },
    listenOnly: true,
  });
  await t.writeModelConfig('linear', { max_batch_size: 64, max_queue_delay_ms: 3000 });
  await t.gateway.loadRepository();
  // Sent together, the ten primaries answer from one batch; the first shadow takes the only slot
  // and waits 3 s for its batch, the other nine find the cap full.
  await Promise.all(Array.from({ length: 10 }, () => expectPrimary(t)));
  const row = await settled(t, 2, 10);
  expect(row.dropped).toBeGreaterThanOrEqual(5);
  expect(row.compared + row.dropped).toBe(10);
  expect(row.errors).toBe(0);
  expect(await metric(t, 'switchyard_shadow_requests_total', { model: 'linear', shadow_version: '2', outcome: 'dropped' })).toBe(row.dropped);
});

it('reports a bad shadow value like an invalid route and never follows it; `shadow` is not an alias', async () => {
  const prefix = randomPrefix();
  const redis = testRedis();
  // A valid split as a target, but 150 % is no shadow share.
  await redis.hset(`${prefix}routes:linear`, { default: '1', shadow: '2:150' });
  const t = await startTestGateway({ models: { linear: { 1: linearModel(1), 2: linearModel(2) } }, redis: { prefix } });
  for (let i = 0; i < 10; i++) await expectPrimary(t);
  await eventually(async () => ((await (await t.get('/readyz')).json()) as { warnings?: string[] }).warnings !== undefined, 10_000, 'the warning');
  const readyz = (await (await t.get('/readyz')).json()) as { ready: boolean; warnings: string[] };
  expect(readyz.ready).toBe(true);
  expect(readyz.warnings).toEqual([expect.stringMatching(/route "shadow" of model "linear" is invalid: target "2:150" has a shadow percent outside 0 < percent <= 100/)]);
  expect(await metric(t, 'switchyard_route_errors', { model: 'linear' })).toBe(1);
  expect(await shadowOf(t, 2)).toBeUndefined();

  // A valid shadow field is still no alias: a request naming `shadow` is not routed by it.
  await redis.hset(`${prefix}routes:linear`, 'shadow', '2:100');
  await eventually(async () => {
    await expectPrimary(t);
    return (await shadowOf(t, 2)) !== undefined;
  }, 10_000, 'the fixed shadow applied');
  await expectError(t.post('/models/linear/shadow/predict', LINEAR_INPUT), 404, 'ALIAS_NOT_FOUND');
});

it('takes the shadow field through the admin API: validated, versions checked', async () => {
  const token = 'shadow-admin-token-0123456789';
  const t = await startTestGateway({ models: { linear: { 1: linearModel(1), 2: linearModel(2) } }, redis: true, env: { ADMIN_TOKEN: token } });
  const put = (routes: Record<string, string>) =>
    fetch(`${t.url}/admin/routes/linear`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(routes) });
  await expectError(put({ default: '1', shadow: '2' }), 400, 'INVALID_REQUEST');
  await expectError(put({ default: '1', shadow: '2:0' }), 400, 'INVALID_REQUEST');
  await expectError(put({ default: '1', shadow: '7:10' }), 400, 'INVALID_REQUEST');
  await expectError(put({ default: 'shadow', shadow: '2:10' }), 400, 'INVALID_REQUEST');
  const written = await put({ default: '1', shadow: '2:12.5' });
  expect(written.status, await written.clone().text()).toBe(200);
  expect(await written.json()).toEqual({ default: '1', shadow: '2:12.5' });
  expect(await testRedis().hget(`${t.redisPrefix}routes:linear`, 'shadow')).toBe('2:12.5');
});

it('forgets a shadow version\'s counts and series once it unloads', async () => {
  const t = await withShadow('2:100', { 1: linearModel(1), 2: linearModel(2) });
  for (let i = 0; i < 5; i++) await expectPrimary(t);
  await settled(t, 2, 5);
  expect(await metric(t, 'switchyard_shadow_max_abs_difference', { model: 'linear', shadow_version: '2' })).toBeGreaterThan(0);

  await testRedis().hdel(`${t.redisPrefix}routes:linear`, 'shadow');
  await eventually(async () => ((await (await t.get('/models/linear')).json()) as { routes: Record<string, string> }).routes.shadow === undefined, 10_000, 'the shadow field gone');
  await rm(join(t.repo, 'linear', '2'), { recursive: true, force: true });
  await eventually(() => t.gateway.registry.status('linear', 2) === undefined, 20_000, 'version 2 unloaded');
  for (let i = 0; i < 3; i++) await expectPrimary(t);
  expect(await shadowOf(t, 2)).toBeUndefined();
  expect(await metric(t, 'switchyard_shadow_max_abs_difference', { model: 'linear', shadow_version: '2' })).toBeUndefined();
  expect(await metric(t, 'switchyard_shadow_requests_total', { model: 'linear', shadow_version: '2', outcome: 'disagreed' })).toBeUndefined();
});

it('takes the shadow field through the operator CLI: written when valid, refused (exit 1, nothing written) when not', async () => {
  const prefix = randomPrefix();
  const redisArgs = ['--redis', testRedisUrl(), '--prefix', prefix];
  const bad = await runCli(['routes', 'set', 'linear', 'default=1', 'shadow=2:0', ...redisArgs]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('shadow percent');
  expect(await testRedis().exists(`${prefix}routes:linear`)).toBe(0);
  const good = await runCli(['routes', 'set', 'linear', 'default=1', 'shadow=2:10', ...redisArgs]);
  expect(good.code, good.stderr).toBe(0);
  expect(await testRedis().hgetall(`${prefix}routes:linear`)).toEqual({ default: '1', shadow: '2:10' });
  await testRedis().del(`${prefix}routes:linear`);
});
