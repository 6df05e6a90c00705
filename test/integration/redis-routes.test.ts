/**
 * The routing table in Redis, seen through HTTP: raw redis-cli edits, weighted splits, aliases to
 * versions that are not READY, and a Redis that dies and comes back.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, sleep, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { linearVersions } from '../support/models.js';
import { randomPrefix, startPrivateRedis, testRedis } from '../support/redis.js';

const twoVersions = { linear: linearVersions(1, 2) };

async function servedVersion(gateway: TestGateway, path = '/models/linear/predict'): Promise<string | null> {
  const response = await gateway.post(path, LINEAR_INPUT);
  if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
  return response.headers.get('x-model-version');
}

it('applies a raw HSET, which nothing announces, on the first request once the table is older than ROUTE_MAX_AGE_MS', async () => {
  // A raw redis-cli edit reaches a replica only through the cache bounds (ROUTE_CACHE_TTL_MS,
  // ROUTE_MAX_AGE_MS = 1 s): past the bound the very first request sees it, no polling.
  const prefix = randomPrefix();
  const redis = testRedis();
  await redis.hset(`${prefix}routes:linear`, 'default', '1');
  const gateway = await startTestGateway({ models: twoVersions, redis: { prefix } });
  expect(gateway.gateway.config.routeCacheTtlMs).toBe(250);
  expect(await servedVersion(gateway)).toBe('1');
  const announcements: string[] = [];
  const listener = testRedis();
  listener.on('message', (_channel: string, message: string) => announcements.push(message));
  await listener.subscribe(`${prefix}routes:changed`);

  await redis.hset(`${prefix}routes:linear`, 'default', '2');
  await sleep(1_200);
  expect(await servedVersion(gateway)).toBe('2');
  // Nothing was announced: only the cache bound can have brought the edit.
  expect(announcements).toEqual([]);
});

it('splits 90/10 within ±5 % over 2,000 requests', async () => {
  const prefix = randomPrefix();
  await testRedis().hset(`${prefix}routes:linear`, { stable: '1:90,2:10', default: 'stable' });
  const gateway = await startTestGateway({ models: twoVersions, redis: { prefix } });
  const counts = new Map<string | null, number>();
  const perClient = 125;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = 0; i < perClient; i++) {
        const version = await servedVersion(gateway);
        counts.set(version, (counts.get(version) ?? 0) + 1);
      }
    }),
  );
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  expect(total).toBe(2000);
  const canaryShare = (counts.get('2') ?? 0) / total;
  expect(canaryShare).toBeGreaterThanOrEqual(0.05);
  expect(canaryShare).toBeLessThanOrEqual(0.15);
  expect((counts.get('1') ?? 0) + (counts.get('2') ?? 0)).toBe(total);
});

it('answers 503 for an alias that points at a version that is not READY, 503 for a looping route', async () => {
  const prefix = randomPrefix();
  await testRedis().hset(`${prefix}routes:linear`, { canary: '3', loop_a: 'loop_b', loop_b: 'loop_a' });
  const gateway = await startTestGateway({ models: twoVersions, redis: { prefix } });
  await mkdir(join(gateway.repo, 'linear', '3'), { recursive: true });
  await writeFile(join(gateway.repo, 'linear', '3', 'model.onnx'), Buffer.from('broken'));
  await eventually(() => gateway.gateway.registry.status('linear', 3)?.state === 'FAILED', 10_000, 'version 3 FAILED');

  await expectError(gateway.post('/models/linear/canary/predict', LINEAR_INPUT), 503, 'VERSION_NOT_READY');
  await expectError(gateway.post('/models/linear/loop_a/predict', LINEAR_INPUT), 503, 'INVALID_ROUTE');
  // Other routes of the model keep working.
  expect(await servedVersion(gateway, '/models/linear/1/predict')).toBe('1');
});

it('keeps serving the last table while Redis is down, and applies edits after it returns', async () => {
  const server = await startPrivateRedis();
  const prefix = randomPrefix();
  const redis = testRedis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  await redis.hset(`${prefix}routes:linear`, 'default', '2');
  const gateway = await startTestGateway({ models: twoVersions, redis: { url: server.url, prefix } });
  expect(await servedVersion(gateway)).toBe('2');

  await server.kill();
  await eventually(() => gateway.gateway.router.status().source.connected === false, 10_000, 'disconnect noticed');
  // Well past the cache lifetime: every request is still served from the last known table.
  for (let i = 0; i < 50; i++) expect(await servedVersion(gateway)).toBe('2');
  const readyz = await fetch(gateway.url + '/readyz');
  expect(readyz.status).toBe(200);

  await server.restart(); // a fresh, empty Redis
  await eventually(async () => {
    try {
      await redis.hset(`${prefix}routes:linear`, 'default', '1');
      return true;
    } catch {
      return false;
    }
  }, 10_000, 'client reconnected');
  await eventually(async () => (await servedVersion(gateway)) === '1', 15_000, 'edit applied after restart');
  expect(gateway.gateway.router.status().source.connected).toBe(true);
});
