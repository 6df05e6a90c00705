/** Router over the real shared Redis: resolution rules, propagation bounds, splits, the store. */
import type { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { RedisRouteSource } from '../../src/routing/redis-route-source.js';
import { Router, type RouterOptions } from '../../src/routing/router.js';
import { cleanupAfter } from '../support/cleanup.js';
import { rejectionOf } from '../support/errors.js';
import { consistently, eventually } from '../support/eventually.js';
import { randomPrefix, testRedis, testRedisUrl } from '../support/redis.js';

// Model "m": versions 1-4 exist, 4 is still loading. Model "empty": one version, still loading.
const KNOWN: Record<string, number[]> = { m: [1, 2, 3, 4], other: [1, 2], empty: [1] };
const SERVABLE: Record<string, number[]> = { m: [1, 2, 3], other: [1, 2], empty: [] };

let prefix: string;
let raw: Redis;

function source(): RedisRouteSource {
  const created = new RedisRouteSource({ url: testRedisUrl(), prefix });
  cleanupAfter(() => created.close());
  return created;
}

function router(options: Partial<RouterOptions> & { source: RedisRouteSource }): Router {
  const created = new Router({
    servableVersions: (model) => SERVABLE[model] ?? [],
    knownVersions: (model) => KNOWN[model] ?? [],
    ...options,
  });
  cleanupAfter(() => created.close());
  return created;
}

const versionOf = async (r: Router, spec?: string) => (await r.resolve('m', spec)).version;

/** Writes like an operator with redis-cli would: no announcement, no validation. */
async function rawTable(model: string, routes: Record<string, string>): Promise<void> {
  await raw.del(`${prefix}routes:${model}`);
  if (Object.keys(routes).length > 0) await raw.hset(`${prefix}routes:${model}`, routes);
}

beforeEach(() => {
  prefix = randomPrefix();
  raw = testRedis();
});

describe('resolution', () => {
  it('gives an integer version that version, whatever the table says', async () => {
    await rawTable('m', { default: '1', latest: '1', '2': '1' });
    const r = router({ source: source() });
    expect(await r.resolve('m', '2')).toEqual({ version: 2 });
    expect(await r.resolve('m', '3')).toEqual({ version: 3 });
    expect(await rejectionOf(r.resolve('m', '4'))).toMatchObject({ code: 'VERSION_NOT_READY', status: 503 });
    expect(await rejectionOf(r.resolve('m', '9'))).toMatchObject({ code: 'VERSION_NOT_FOUND', status: 404 });
  });

  it('follows default -> alias -> version', async () => {
    await rawTable('m', { default: 'stable', stable: '2', canary: '3' });
    const r = router({ source: source() });
    expect(await r.resolve('m')).toEqual({ version: 2, alias: 'default' });
    expect(await r.resolve('m', '')).toEqual({ version: 2, alias: 'default' });
    expect(await r.resolve('m', 'default')).toEqual({ version: 2, alias: 'default' });
    expect(await r.resolve('m', 'stable')).toEqual({ version: 2, alias: 'stable' });
    expect(await r.resolve('m', 'canary')).toEqual({ version: 3, alias: 'canary' });
  });

  it('has latest built in (highest servable) unless the table sets it, and uses it without default', async () => {
    const r = router({ source: source() });
    expect(await r.resolve('m')).toEqual({ version: 3, alias: 'latest' });
    expect(await r.resolve('m', 'latest')).toEqual({ version: 3, alias: 'latest' });

    await rawTable('other', { latest: '1' });
    expect(await r.resolve('other')).toEqual({ version: 1, alias: 'latest' });
    expect(await r.resolve('other', 'latest')).toEqual({ version: 1, alias: 'latest' });

    expect(await rejectionOf(r.resolve('empty'))).toMatchObject({ code: 'VERSION_NOT_READY', status: 503 });
  });

  it('lets an alias name the built-in latest (one level)', async () => {
    await rawTable('m', { default: 'latest' });
    const r = router({ source: source() });
    expect(await r.resolve('m')).toEqual({ version: 3, alias: 'default' });
  });

  it('answers an unknown alias with ALIAS_NOT_FOUND 404', async () => {
    await rawTable('m', { stable: '2' });
    const r = router({ source: source() });
    const error = await rejectionOf(r.resolve('m', 'nosuch'));
    expect(error).toMatchObject({ code: 'ALIAS_NOT_FOUND', status: 404 });
    expect(error.message).toContain('nosuch');
  });

  it('answers an unknown model and a malformed version spec without touching the table', async () => {
    const r = router({ source: source() });
    expect(await rejectionOf(r.resolve('ghost'))).toMatchObject({ code: 'MODEL_NOT_FOUND', status: 404 });
    expect(await rejectionOf(r.resolve('m', 'Bad!'))).toMatchObject({ code: 'INVALID_MODEL_NAME', status: 400 });
    expect(await rejectionOf(r.resolve('m', '03'))).toMatchObject({ code: 'INVALID_MODEL_NAME', status: 400 });
    expect(r.status().cache).toMatchObject({ hits: 0, misses: 0, size: 0 });
  });

  it.each([
    ['a loop', { default: 'stable', stable: 'default' }, 'default', 'stable'],
    ['a self loop', { canary: 'canary' }, 'canary', 'canary'],
    ['a dangling name', { default: 'nosuch' }, 'default', 'nosuch'],
    ['a two-level chain', { default: 'stable', stable: 'beta', beta: '2' }, undefined, 'stable'],
    ['a malformed target', { canary: '3:x' }, 'canary', '3:x'],
  ])('answers %s with INVALID_ROUTE 503 naming model, alias and target', async (_name, routes, spec, target) => {
    await rawTable('m', routes);
    const r = router({ source: source() });
    const error = await rejectionOf(r.resolve('m', spec));
    expect(error).toMatchObject({ code: 'INVALID_ROUTE', status: 503 });
    expect(error.message).toContain('"m"');
    expect(error.message).toContain(`"${spec ?? 'default'}"`);
    expect(error.message).toContain(`"${target}"`);
  });

  it('keeps the other aliases of a model working when one is malformed', async () => {
    await rawTable('m', { canary: '3:x', stable: '2' });
    const r = router({ source: source() });
    expect(await rejectionOf(r.resolve('m', 'canary'))).toMatchObject({ code: 'INVALID_ROUTE' });
    expect(await r.resolve('m', 'stable')).toEqual({ version: 2, alias: 'stable' });
    expect(await r.resolve('m')).toEqual({ version: 3, alias: 'latest' });
  });

  it('answers a split part drawn on a non-ready version with VERSION_NOT_READY 503', async () => {
    await rawTable('m', { canary: '3:50,4:50' });
    let draw = 0.9;
    const r = router({ source: source(), random: () => draw });
    const error = await rejectionOf(r.resolve('m', 'canary'));
    expect(error).toMatchObject({ code: 'VERSION_NOT_READY', status: 503 });
    expect(error.message).toContain('Version 4');
    draw = 0.1;
    expect(await r.resolve('m', 'canary')).toEqual({ version: 3, alias: 'canary' });
  });

  it('answers a target naming a version that does not exist with VERSION_NOT_FOUND 404', async () => {
    await rawTable('m', { default: 'stable', stable: '7' });
    const r = router({ source: source() });
    const error = await rejectionOf(r.resolve('m'));
    expect(error).toMatchObject({ code: 'VERSION_NOT_FOUND', status: 404 });
    expect(error.message).toContain('7');
  });

  it('splits 90/10 within five points over 2,000 draws', async () => {
    await rawTable('m', { default: '2:90,3:10' });
    const r = router({ source: source() });
    const counts = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      const { version } = await r.resolve('m');
      counts.set(version, (counts.get(version) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([2, 3]);
    const canaryShare = (counts.get(3) ?? 0) / 2000;
    expect(canaryShare).toBeGreaterThanOrEqual(0.05);
    expect(canaryShare).toBeLessThanOrEqual(0.15);
    expect((counts.get(2) ?? 0) / 2000).toBeGreaterThanOrEqual(0.85);
  });

  it('reads a table once and then answers from memory (hits and misses counted)', async () => {
    await rawTable('m', { default: '2' });
    const redis = source();
    await redis.ready();
    const r = router({ source: redis, cacheTtlMs: 60_000 });
    for (let i = 0; i < 10; i++) await r.resolve('m');
    expect(r.status()).toMatchObject({ source: { kind: 'redis', connected: true }, cache: { hits: 9, misses: 1, size: 1 } });
    expect(await r.routes('m')).toEqual({ default: '2' });
  });
});

describe('propagation', () => {
  // The README's bounds (a raw HSET within 1 s, the project's own edits within 100 ms) are two
  // mechanisms: a cache lifetime of ROUTE_CACHE_TTL_MS, and an announcement on routes:changed.
  // Each test isolates one of them; how fast they are is the benchmark's business.
  // The default lifetime (ROUTE_CACHE_TTL_MS) is held to the README and SETTING_DEFAULTS by
  // test/readme/configuration-table.test.ts; this test runs with it.
  it('applies a raw redis-cli HSET once the cache lifetime has passed, without any announcement', async () => {
    await rawTable('m', { default: '2' });
    const s = source();
    const r = router({ source: s, cacheTtlMs: loadConfig({}).routeCacheTtlMs });
    expect(await versionOf(r)).toBe(2);
    // From here on, nothing is announced (connecting announces "re-read everything" once).
    await s.ready();
    const announced: (string | undefined)[] = [];
    s.onChange((model) => announced.push(model));

    await raw.hset(`${prefix}routes:m`, 'default', '3');
    await eventually(async () => (await versionOf(r)) === 3, 10_000, 'the refresh after the cache lifetime');
    expect(announced).toEqual([]);
  });

  it('does not see a raw HSET before its cache lifetime without an announcement', async () => {
    // The counterpart of the tests around it: with a long cache, only an announcement moves a router.
    await rawTable('m', { default: '2' });
    const s = source();
    // Once connected, so the refresh that follows a (re)connection can not be mistaken for a leak.
    await s.ready();
    const r = router({ source: s, cacheTtlMs: 600_000 });
    expect(await versionOf(r)).toBe(2);
    await raw.hset(`${prefix}routes:m`, 'default', '3');
    await consistently(async () => (await versionOf(r)) === 2, 600, 'the cached table');
  });

  it('applies an edit made through the store on another replica through its announcement', async () => {
    const replicaA = source();
    const replicaB = source();
    await replicaA.setRoutes('m', { default: 'stable', stable: '2' });
    // A cache lifetime far longer than the test: only the announcement can deliver the edit.
    const routerB = router({ source: replicaB, cacheTtlMs: 600_000 });
    expect(await routerB.resolve('m')).toEqual({ version: 2, alias: 'default' });
    // Listening before the edit is the contract's premise (a replica that just started re-reads anyway).
    await replicaB.ready();
    const heard: (string | undefined)[] = [];
    replicaB.onChange((model) => heard.push(model));

    await replicaA.setRoute('m', 'stable', '3');
    await eventually(async () => (await versionOf(routerB)) === 3, 10_000, 'replica B applies the edit');
    expect(heard).toContain('m');

    await replicaA.deleteRoute('m', 'default');
    await eventually(async () => (await routerB.resolve('m')).alias === 'latest', 10_000, 'replica B applies the delete');
  });
});

describe('RedisRouteSource as a store', () => {
  it('replaces a whole table atomically and announces it', async () => {
    const store = source();
    const announced: (string | undefined)[] = [];
    store.onChange((model) => announced.push(model));
    await store.setRoutes('m', { default: 'stable', stable: '2', old: '1' });
    await store.setRoutes('m', { default: 'stable', stable: '3' });
    expect(await raw.hgetall(`${prefix}routes:m`)).toEqual({ default: 'stable', stable: '3' });
    expect(announced.filter((model) => model === 'm').length).toBeGreaterThanOrEqual(2);

    await store.setRoutes('m', {});
    expect(await raw.exists(`${prefix}routes:m`)).toBe(0);
    expect(await store.read('m')).toBeUndefined();
  });

  it('refuses malformed edits before writing anything', async () => {
    const store = source();
    await store.setRoutes('m', { stable: '2' });
    expect(await rejectionOf(store.setRoute('m', 'canary', '3:x'))).toMatchObject({ code: 'INVALID_REQUEST', status: 400 });
    expect(await rejectionOf(store.setRoute('m', 'Canary', '3'))).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(await rejectionOf(store.setRoutes('m', { a: 'b', b: 'a' }))).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(await rejectionOf(store.setRoute('../x', 'stable', '2'))).toMatchObject({ code: 'INVALID_MODEL_NAME' });
    expect(await raw.hgetall(`${prefix}routes:m`)).toEqual({ stable: '2' });
  });

  it('deletes one alias or a whole table, saying whether anything went', async () => {
    const store = source();
    await store.setRoutes('m', { stable: '2', canary: '3' });
    expect((await store.deleteRoute('m', 'canary')).removed).toBe(true);
    expect((await store.deleteRoute('m', 'canary')).removed).toBe(false);
    expect(await store.read('m')).toEqual({ stable: '2' });
    expect((await store.deleteRoute('m')).removed).toBe(true);
    expect((await store.deleteRoute('m')).removed).toBe(false);
  });

  it('lists every table under its prefix only', async () => {
    const store = source();
    await store.setRoutes('m', { stable: '2' });
    await store.setRoutes('other', { default: '1' });
    await raw.hset(`${randomPrefix()}routes:elsewhere`, 'stable', '1');
    expect(await store.readAll()).toEqual({ m: { stable: '2' }, other: { default: '1' } });
  });

  it('closes twice without complaint and refuses reads afterwards', async () => {
    const store = source();
    await store.read('m');
    await store.close();
    await store.close();
    expect(await rejectionOf(store.read('m'))).toMatchObject({ code: 'ROUTING_UNAVAILABLE' });
  });
});
