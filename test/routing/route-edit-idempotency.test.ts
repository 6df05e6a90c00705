/**
 * Idempotency keys on the route store, the same on both sources (Redis, and the routes file,
 * whose ledger is in memory): a repeat replays the first outcome and writes nothing, even over
 * edits made since; the key with another edit is refused.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { FileRouteSource } from '../../src/routing/file-route-source.js';
import { RedisRouteSource } from '../../src/routing/redis-route-source.js';
import type { RouteSource, RouteStore } from '../../src/routing/route-source.js';
import { cleanupAfter } from '../support/cleanup.js';
import { rejectionOf } from '../support/errors.js';
import { randomPrefix, testRedis, testRedisUrl } from '../support/redis.js';
import { tempDir } from '../support/temp-dir.js';

type Store = RouteSource & RouteStore;

async function redisStore(): Promise<Store> {
  const store = new RedisRouteSource({ url: testRedisUrl(), prefix: randomPrefix() });
  cleanupAfter(() => store.close());
  return store;
}

async function fileStore(): Promise<Store> {
  const store = new FileRouteSource({ path: (await tempDir('routes')).join('routes.json') });
  cleanupAfter(() => store.close());
  await store.ready();
  return store;
}

describe.each([
  ['Redis', redisStore],
  ['the routes file', fileStore],
])('route edits with an idempotency key on %s', (_name, open) => {
  it('replays a repeated edit without writing, and refuses the key for another edit', async () => {
    const store = await open();
    const key = { idempotencyKey: 'deploy-42' };
    expect(await store.setRoutes('m', { default: '2' }, key)).toEqual({ replayed: false, routes: { default: '2' } });
    await store.setRoutes('m', { default: '1' });
    // The late repeat answers as the first did and leaves the newer table alone.
    expect(await store.setRoutes('m', { default: '2' }, key)).toEqual({ replayed: true, routes: { default: '2' } });
    expect(await store.read('m')).toEqual({ default: '1' });

    expect(await rejectionOf(store.setRoutes('m', { default: '3' }, key))).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 409 });
    expect(await rejectionOf(store.setRoutes('other', { default: '2' }, key))).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await rejectionOf(store.deleteRoute('m', undefined, key))).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await store.read('m')).toEqual({ default: '1' });
    // The same table in another order is the same edit.
    const both = { idempotencyKey: 'both' };
    await store.setRoutes('m', { default: 'stable', stable: '1' }, both);
    expect((await store.setRoutes('m', { stable: '1', default: 'stable' }, both)).replayed).toBe(true);
  });

  it('remembers what a delete removed, and a set of one alias', async () => {
    const store = await open();
    await store.setRoutes('m', { default: '1', canary: '2' });
    const rm = { idempotencyKey: 'rm-canary' };
    expect(await store.deleteRoute('m', 'canary', rm)).toEqual({ replayed: false, removed: true });
    expect(await store.deleteRoute('m', 'canary', rm)).toEqual({ replayed: true, removed: true });
    expect(await store.deleteRoute('m', 'canary')).toEqual({ replayed: false, removed: false });

    const set = { idempotencyKey: 'set-canary' };
    expect(await store.setRoute('m', 'canary', '1', set)).toEqual({ replayed: false });
    await store.deleteRoute('m', 'canary');
    expect(await store.setRoute('m', 'canary', '1', set)).toEqual({ replayed: true });
    expect(await store.read('m')).toEqual({ default: '1' });
  });
});

it('keeps a Redis key record for a day, under route-edits: (not routes:, so it is never taken for a table)', async () => {
  const store = (await redisStore()) as RedisRouteSource;
  await store.setRoutes('m', { default: '1' }, { idempotencyKey: 'a key with spaces is fine here' });
  const record = store.editKey('a key with spaces is fine here');
  expect(record.startsWith(`${store.prefix}route-edits:`)).toBe(true);
  const ttl = await testRedis().pttl(record);
  expect(ttl).toBeGreaterThan(23 * 3600 * 1000);
  expect(ttl).toBeLessThanOrEqual(24 * 3600 * 1000);
  expect(Object.keys(await store.readAll())).toEqual(['m']);
});

it('writes nothing to the routes file for a replay', async () => {
  const dir = await tempDir('routes');
  const store = new FileRouteSource({ path: dir.join('routes.json') });
  cleanupAfter(() => store.close());
  await store.setRoutes('m', { default: '1' }, { idempotencyKey: 'k' });
  const before = await readFile(dir.join('routes.json'), 'utf8');
  await store.setRoutes('m', { default: '1' }, { idempotencyKey: 'k' });
  expect(await readFile(dir.join('routes.json'), 'utf8')).toBe(before);
});
