/**
 * How fresh a served routing table is, and what is said about one that can not be used, over real
 * Redis: the 1 s bound on a raw HSET holds for the first request on an idle router (not only
 * "eventually"), a hung Redis makes that request wait no longer than the command timeout and then
 * serve the last good table as stale, and a key of the wrong type or an alias that can not route
 * is reported once per change while the last good table keeps serving.
 */
import type { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { RedisRouteSource } from '../../src/routing/redis-route-source.js';
import { Router, type RouteTableIssues, type RouterEvents } from '../../src/routing/router.js';
import { cleanupAfter } from '../support/cleanup.js';
import { rejectionOf } from '../support/errors.js';
import { eventually, sleep } from '../support/eventually.js';
import { randomPrefix, startPrivateRedis, testRedis, testRedisUrl } from '../support/redis.js';

/** The bound under test: the router's default, which the README promises for a raw HSET. */
const MAX_AGE_MS = 1000;
/** Idle for longer than the bound (waiting past it is the only use of the clock here). */
const PAST_THE_BOUND_MS = MAX_AGE_MS + 200;

let prefix: string;
let raw: Redis;

beforeEach(() => {
  prefix = randomPrefix();
  raw = testRedis();
});

/** A connected source (so its start-up "re-read everything" is over) and a router with the default bounds. */
async function open(url = testRedisUrl()): Promise<{ source: RedisRouteSource; router: Router }> {
  const source = new RedisRouteSource({ url, prefix, maxReconnectDelayMs: 200 });
  cleanupAfter(() => source.close());
  await source.ready();
  const router = new Router({ source, servableVersions: () => [1, 2, 3], knownVersions: () => [1, 2, 3] });
  cleanupAfter(() => router.close());
  return { source, router };
}

function recorded<E extends keyof RouterEvents>(router: Router, event: E): RouterEvents[E][0][] {
  const seen: RouterEvents[E][0][] = [];
  router.on(event, ((payload: RouterEvents[E][0]) => seen.push(payload)) as never);
  return seen;
}

const versionOf = async (router: Router, spec?: string) => (await router.resolve('m', spec)).version;

describe('the bound on a raw edit', () => {
  it('is ROUTE_MAX_AGE_MS: 1 s by default, never below ROUTE_CACHE_TTL_MS', () => {
    expect(loadConfig({}).routeMaxAgeMs).toBe(MAX_AGE_MS);
    expect(loadConfig({ ROUTE_CACHE_TTL_MS: '600000' }).routeMaxAgeMs).toBe(600_000);
    expect(loadConfig({ ROUTE_MAX_AGE_MS: '5000' }).routeMaxAgeMs).toBe(5000);
    expect(() => loadConfig({ ROUTE_CACHE_TTL_MS: '500', ROUTE_MAX_AGE_MS: '400' })).toThrow(ConfigError);
  });

  it('serves the first request after the bound on an idle router from the new table', async () => {
    await raw.hset(`${prefix}routes:m`, 'default', '2');
    const { source, router } = await open();
    expect(await versionOf(router)).toBe(2);
    const announced: (string | undefined)[] = [];
    source.onChange((model) => announced.push(model));

    await raw.hset(`${prefix}routes:m`, 'default', '3');
    await sleep(PAST_THE_BOUND_MS);
    const before = router.status().cache;
    // Exactly the first request: no warm-up request, no "eventually".
    expect(await versionOf(router)).toBe(3);
    // It waited for one read (a miss), since its table was past the bound; nothing was announced.
    expect(router.status().cache).toMatchObject({ misses: before.misses + 1, hits: before.hits });
    expect(announced).toEqual([]);
  });

  it('on a hung Redis, waits once for the read, then serves the last good table as stale without waiting again', async () => {
    const server = await startPrivateRedis();
    const { router } = await open(server.url);
    await testRedis(server.url).hset(`${prefix}routes:m`, 'default', '2');
    expect(await versionOf(router)).toBe(2);
    const stale = recorded(router, 'stale');

    server.pause();
    try {
      await sleep(PAST_THE_BOUND_MS);
      // The read times out (the source's 500 ms command timeout) and the last good table answers.
      expect(await versionOf(router)).toBe(2);
      expect(stale).toEqual([{ model: 'm', stale: true, reason: expect.stringContaining('timed out') }]);
      expect(router.status().stale).toEqual([{ model: 'm', reason: expect.stringContaining('timed out') }]);
      const { misses } = router.status().cache;
      for (let i = 0; i < 20; i++) expect(await versionOf(router)).toBe(2);
      // None of them waited for the source again, and the staleness was said once.
      expect(router.status().cache.misses).toBe(misses);
      expect(stale).toHaveLength(1);
    } finally {
      server.resume();
    }
    await testRedis(server.url).hset(`${prefix}routes:m`, 'default', '3');
    await eventually(async () => (await versionOf(router)) === 3, 10_000, 'the table read again after the resume');
    expect(stale.at(-1)).toEqual({ model: 'm', stale: false });
    expect(router.status().stale).toEqual([]);
  });
});

describe('tables that can not be used', () => {
  it('reports a key that is not a hash once, keeps serving the last good table, and says when it is fixed', async () => {
    await raw.hset(`${prefix}routes:m`, 'default', '2');
    const { router } = await open();
    expect(await versionOf(router)).toBe(2);
    const issues = recorded(router, 'issues');

    await raw.del(`${prefix}routes:m`);
    await raw.set(`${prefix}routes:m`, 'notahash');
    await eventually(async () => {
      expect(await versionOf(router)).toBe(2);
      return issues.length > 0;
    }, 10_000, 'the wrong-type key reported');
    // Well past the bound and many requests later: still the last good table, still said once.
    await sleep(PAST_THE_BOUND_MS);
    for (let i = 0; i < 20; i++) expect(await versionOf(router)).toBe(2);
    const reported: RouteTableIssues = { model: 'm', unreadable: expect.stringContaining(`key "${prefix}routes:m" holds a string, not a hash`), problems: [] };
    expect(issues).toEqual([reported]);
    expect(router.status().issues).toEqual([reported]);
    expect(router.status().stale).toEqual([]);

    await raw.del(`${prefix}routes:m`);
    await raw.hset(`${prefix}routes:m`, 'default', '1');
    await eventually(async () => (await versionOf(router)) === 1, 10_000, 'the repaired table');
    expect(issues).toEqual([reported, { model: 'm', problems: [] }]);
    expect(router.status().issues).toEqual([]);
  });

  it('answers INVALID_ROUTE for an alias of a model whose key was never a hash (integer versions still work)', async () => {
    await raw.set(`${prefix}routes:m`, 'notahash');
    const { router } = await open();
    const error = await rejectionOf(router.resolve('m'));
    expect(error).toMatchObject({ code: 'INVALID_ROUTE', status: 503, message: expect.stringContaining('holds a string') });
    expect(await router.resolve('m', '1')).toEqual({ version: 1 });
    expect(router.status().issues).toMatchObject([{ model: 'm', unreadable: expect.stringContaining('not a hash') }]);
  });

  it('reports an alias that can not route once per change, the others serving', async () => {
    await raw.hset(`${prefix}routes:m`, 'default', '2');
    const { router } = await open();
    expect(await versionOf(router)).toBe(2);
    const issues = recorded(router, 'issues');

    await raw.hset(`${prefix}routes:m`, 'canary', '3:x');
    await eventually(async () => {
      await versionOf(router);
      return issues.length > 0;
    }, 10_000, 'the bad alias reported');
    await sleep(PAST_THE_BOUND_MS);
    for (let i = 0; i < 20; i++) expect(await versionOf(router)).toBe(2);
    expect(await rejectionOf(router.resolve('m', 'canary'))).toMatchObject({ code: 'INVALID_ROUTE' });
    expect(issues).toEqual([{ model: 'm', problems: [{ alias: 'canary', target: '3:x', reason: expect.stringContaining('split part') }] }]);

    await raw.hset(`${prefix}routes:m`, 'canary', '3');
    await eventually(async () => (await router.resolve('m', 'canary').catch(() => undefined))?.version === 3, 10_000, 'the fixed alias');
    expect(issues.at(-1)).toEqual({ model: 'm', problems: [] });
    expect(issues).toHaveLength(2);
  });
});
