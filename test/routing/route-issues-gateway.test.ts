/**
 * A routing table that can not be used, seen from outside a real gateway on real Redis: logged
 * once (pino lines captured), shown on /readyz (still 200: one bad table must not take every
 * replica out), in GET /admin/routes/:model and in switchyard_route_errors, while the last good
 * table keeps serving. (The 1 s bound on a raw HSET through HTTP: test/integration/redis-routes.test.ts.)
 */
import { expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';
import { linearVersions } from '../support/models.js';
import { randomPrefix, testRedis } from '../support/redis.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';

const TOKEN = 'route-issues-token-0123456789';

async function start(prefix: string, log: CapturedLog = captureLog()): Promise<TestGateway> {
  return startTestGateway({ models: { linear: linearVersions(1, 2) }, env: { ADMIN_TOKEN: TOKEN }, redis: { prefix }, logger: log.logger });
}

async function served(t: TestGateway): Promise<string | null> {
  const response = await t.post('/models/linear/predict', LINEAR_INPUT);
  expect(response.status, await response.clone().text()).toBe(200);
  return response.headers.get('x-model-version');
}

async function readyz(t: TestGateway): Promise<{ status: number; body: { ready: boolean; reasons: string[]; warnings?: string[] } }> {
  const response = await fetch(`${t.url}/readyz`);
  return { status: response.status, body: (await response.json()) as { ready: boolean; reasons: string[]; warnings?: string[] } };
}

async function routeErrors(t: TestGateway): Promise<number | undefined> {
  return valueOf(parseExposition(await (await fetch(`${t.url}/metrics`)).text()), 'switchyard_route_errors', { model: 'linear' });
}

it('logs a key of the wrong type once, shows it, keeps the last good table, and clears it once fixed', async () => {
  const prefix = randomPrefix();
  const redis = testRedis();
  const key = `${prefix}routes:linear`;
  await redis.hset(key, 'default', '1');
  const log = captureLog();
  const lines = log.lines;
  const t = await start(prefix, log);
  expect(await served(t)).toBe('1');
  expect((await readyz(t)).body).toEqual({ ready: true, reasons: [] });

  await redis.del(key);
  await redis.set(key, 'notahash');
  await eventually(async () => (await served(t)) === '1' && (await readyz(t)).body.warnings !== undefined, 10_000, 'the bad key on /readyz');
  for (let i = 0; i < 20; i++) expect(await served(t)).toBe('1');

  const health = await readyz(t);
  expect(health.status).toBe(200);
  expect(health.body.warnings).toEqual([expect.stringMatching(/model "linear" can not be read: key ".*routes:linear" holds a string, not a hash; the last good table serves/)]);
  expect(await routeErrors(t)).toBe(1);
  await expectError(
    fetch(`${t.url}/admin/routes/linear`, { headers: { authorization: `Bearer ${TOKEN}` } }),
    503,
    'INVALID_ROUTE',
    'holds a string, not a hash',
  );
  const logged = lines.filter((line) => line.event === 'route-issues');
  expect(logged).toEqual([expect.objectContaining({ level: 40, model: 'linear', unreadable: expect.stringContaining('not a hash') })]);

  await redis.del(key);
  await redis.hset(key, 'default', '2');
  await eventually(async () => (await served(t)) === '2', 10_000, 'the repaired table');
  await eventually(async () => (await readyz(t)).body.warnings === undefined, 10_000, 'the warning gone');
  expect(await routeErrors(t)).toBeUndefined();
  expect(lines.filter((line) => line.event === 'route-issues-resolved')).toHaveLength(1);
  expect(lines.filter((line) => line.event === 'route-issues')).toHaveLength(1);
});

it('shows and logs an alias that can not route, once, the other aliases serving', async () => {
  const prefix = randomPrefix();
  const redis = testRedis();
  await redis.hset(`${prefix}routes:linear`, 'default', '1');
  const log = captureLog();
  const lines = log.lines;
  const t = await start(prefix, log);
  expect(await served(t)).toBe('1');

  await redis.hset(`${prefix}routes:linear`, 'canary', 'stable');
  await eventually(async () => (await served(t)) === '1' && (await readyz(t)).body.warnings !== undefined, 10_000, 'the bad alias on /readyz');
  for (let i = 0; i < 20; i++) expect(await served(t)).toBe('1');
  expect((await readyz(t)).body.warnings).toEqual([
    'routing: route "canary" of model "linear" is invalid: target "stable" names alias "stable", which the table does not have',
  ]);
  expect(await routeErrors(t)).toBe(1);
  expect(lines.filter((line) => line.event === 'route-issues')).toEqual([
    expect.objectContaining({ model: 'linear', problems: [expect.objectContaining({ alias: 'canary', target: 'stable' })] }),
  ]);
});
