/**
 * The routing table in Redis, seen through HTTP: raw redis-cli edits, weighted splits, aliases to
 * versions that are not READY, and a Redis that dies and comes back.
 */
import { writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { buildLinearModel } from '../../tools/model-builder/index.js';
import { eventually, LINEAR_INPUT, sleep, startTestGateway, type TestGateway } from '../support/gateway.js';
import { startRedisServer, type OwnRedisServer } from '../support/redis-server.js';
import { randomPrefix, testRedisUrl } from '../support/redis.js';

const twoVersions = {
  linear: { 1: buildLinearModel({ inputSize: 4, outputSize: 2, scale: 1 }), 2: buildLinearModel({ inputSize: 4, outputSize: 2, scale: 2 }) },
};

let t: TestGateway | undefined;
let redis: Redis | undefined;
let own: OwnRedisServer | undefined;
afterEach(async () => {
  await t?.close();
  redis?.disconnect();
  await own?.stop();
  t = undefined;
  redis = undefined;
  own = undefined;
});

async function servedVersion(gateway: TestGateway, path = '/models/linear/predict'): Promise<string | null> {
  const response = await gateway.post(path, LINEAR_INPUT);
  if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`);
  return response.headers.get('x-model-version');
}

it('applies a raw HSET within 1 s', async () => {
  const prefix = randomPrefix();
  redis = new Redis(testRedisUrl());
  await redis.hset(`${prefix}routes:linear`, 'default', '1');
  t = await startTestGateway({ models: twoVersions, env: { REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix } });
  const gateway = t;
  expect(await servedVersion(gateway)).toBe('1');

  await redis.hset(`${prefix}routes:linear`, 'default', '2');
  // Past the bound (ROUTE_MAX_AGE_MS, 1 s), the very first request must see it: no polling, and
  // no stopwatch on a loaded machine either.
  await sleep(1_200);
  expect(await servedVersion(gateway)).toBe('2');
});

it('splits 90/10 within ±5 % over 2,000 requests', async () => {
  const prefix = randomPrefix();
  redis = new Redis(testRedisUrl());
  await redis.hset(`${prefix}routes:linear`, { stable: '1:90,2:10', default: 'stable' });
  t = await startTestGateway({ models: twoVersions, env: { REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix } });
  const gateway = t;
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
  redis = new Redis(testRedisUrl());
  await redis.hset(`${prefix}routes:linear`, { canary: '3', loop_a: 'loop_b', loop_b: 'loop_a' });
  t = await startTestGateway({ models: twoVersions, env: { REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix } });
  const gateway = t;
  mkdirSync(join(gateway.repo, 'linear', '3'), { recursive: true });
  await writeFile(join(gateway.repo, 'linear', '3', 'model.onnx'), Buffer.from('broken'));
  await eventually(() => gateway.gateway.registry.status('linear', 3)?.state === 'FAILED', 10_000, 'version 3 FAILED');

  const response = await gateway.post('/models/linear/canary/predict', LINEAR_INPUT);
  expect(response.status).toBe(503);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe('VERSION_NOT_READY');

  const loop = await gateway.post('/models/linear/loop_a/predict', LINEAR_INPUT);
  expect(loop.status).toBe(503);
  const loopBody = (await loop.json()) as { error: { code: string; message: string } };
  expect(loopBody.error.code).toBe('INVALID_ROUTE');
  // Other routes of the model keep working.
  expect(await servedVersion(gateway, '/models/linear/1/predict')).toBe('1');
});

it('keeps serving the last table while Redis is down, and applies edits after it returns', async () => {
  own = await startRedisServer();
  const server = own;
  const prefix = randomPrefix();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on('error', () => {});
  await redis.hset(`${prefix}routes:linear`, 'default', '2');
  t = await startTestGateway({ models: twoVersions, env: { REDIS_URL: server.url, REDIS_PREFIX: prefix } });
  const gateway = t;
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
      await redis!.hset(`${prefix}routes:linear`, 'default', '1');
      return true;
    } catch {
      return false;
    }
  }, 10_000, 'client reconnected');
  await eventually(async () => (await servedVersion(gateway)) === '1', 15_000, 'edit applied after restart');
  expect(gateway.gateway.router.status().source.connected).toBe(true);
});
