/**
 * Redis going away under a live router, on a private redis-server this test kills and restarts:
 * the last known table keeps serving, nothing hangs, status says so, and edits apply again once
 * Redis is back.
 */
import { beforeEach, expect, it } from 'vitest';
import { RedisRouteSource } from '../../src/routing/redis-route-source.js';
import { Router } from '../../src/routing/router.js';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, sleep } from '../support/eventually.js';
import type { OwnRedisServer } from '../support/redis-server.js';
import { randomPrefix, startPrivateRedis, testRedis } from '../support/redis.js';

let server: OwnRedisServer;
let source: RedisRouteSource;
let router: Router;

beforeEach(async () => {
  // Stopped at the end of the test, after the router and source registered below closed.
  server = await startPrivateRedis();
  source = new RedisRouteSource({ url: server.url, prefix: randomPrefix(), maxReconnectDelayMs: 200 });
  // A short cache lifetime, so the outage is met by refreshes that fail, not hidden by fresh entries.
  router = new Router({
    source,
    servableVersions: () => [1, 2, 3],
    knownVersions: () => [1, 2, 3],
    cacheTtlMs: 20,
  });
  cleanupAfter(() => source.close());
  cleanupAfter(() => router.close());
});

/** A resolve that has not settled after this long counts as hung (far above a fast failure). */
const HUNG_AFTER_MS = 2000;

async function settles<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown; hung: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HUNG_AFTER_MS);
  });
  try {
    const outcome = await Promise.race([promise, hung]);
    return outcome === 'hung' ? { hung: true } : { value: outcome as T, hung: false };
  } catch (error) {
    return { error, hung: false };
  } finally {
    clearTimeout(timer);
  }
}

it('serves the last known table while Redis is down and applies edits again once it is back', async () => {
  await source.ready();
  await source.setRoutes('m', { default: 'stable', stable: '2' });
  expect(await router.resolve('m')).toEqual({ version: 2, alias: 'default' });
  expect(router.status().source.connected).toBe(true);

  await server.kill();
  await eventually(() => !router.status().source.connected, 5000, 'the router to notice the outage');

  // Every resolve settles with the last table, across many expired cache lifetimes.
  const outcomes: { value?: unknown; error?: unknown; hung: boolean }[] = [];
  for (let i = 0; i < 30; i++) {
    outcomes.push(await settles(router.resolve('m')));
    await sleep(10);
  }
  expect(outcomes.filter((outcome) => outcome.hung)).toHaveLength(0);
  expect(outcomes.filter((outcome) => outcome.error !== undefined)).toEqual([]);
  expect(outcomes.every((outcome) => (outcome.value as { version: number }).version === 2)).toBe(true);

  // Integer versions never needed the table; a model never read has no last table to serve.
  expect(await router.resolve('m', '3')).toEqual({ version: 3 });
  const neverRead = await settles(router.resolve('other'));
  expect(neverRead.hung).toBe(false);
  expect(neverRead.error).toMatchObject({ code: 'ROUTING_UNAVAILABLE', status: 503 });

  // Edits fail fast rather than queue for a Redis that may never return.
  const edit = await settles(source.setRoute('m', 'stable', '3'));
  expect(edit.hung).toBe(false);
  expect(edit.error).toMatchObject({ code: 'ROUTING_UNAVAILABLE' });

  const status = router.status().source;
  expect(status).toMatchObject({ kind: 'redis', connected: false });
  expect(status.lastError).toBeTruthy();

  await server.restart();
  await eventually(() => router.status().source.connected, 10_000, 'the router to reconnect');
  expect(router.status().source.lastError).toBeUndefined();

  // The restarted server is empty (no persistence): a raw HSET, as an operator would redo it.
  await testRedis(server.url).hset(`${source.prefix}routes:m`, { default: 'stable', stable: '3' });
  await eventually(async () => (await router.resolve('m')).version === 3, 10_000, 'the raw HSET applied');

  // And the project's own edits work again.
  await source.setRoute('m', 'stable', '1');
  await eventually(async () => (await router.resolve('m')).version === 1, 10_000, 'the store edit applied');
});

it('re-subscribes after a restart, so announcements from another replica arrive again', async () => {
  const other = new RedisRouteSource({ url: server.url, prefix: source.prefix });
  const longLived = new Router({
    source,
    servableVersions: () => [1, 2, 3],
    knownVersions: () => [1, 2, 3],
    // A cache that outlives the test: only an announcement can bring the edit.
    cacheTtlMs: 600_000,
  });
  cleanupAfter(() => other.close());
  cleanupAfter(() => longLived.close());
  await Promise.all([source.ready(), other.ready()]);
  await other.setRoutes('m', { default: '1' });
  expect((await longLived.resolve('m')).version).toBe(1);

  await server.kill();
  await eventually(() => !source.status().connected, 5000, 'the source to notice the outage');
  await server.restart();
  await Promise.all([source.ready(), other.ready()]);
  // Back, it re-reads every table: the restarted server is empty, so `latest` (3) again. Waiting
  // for it keeps that re-read from being mistaken for the announcement below.
  await eventually(async () => (await longLived.resolve('m')).version === 3, 10_000, 'the re-read after the restart');

  await other.setRoutes('m', { default: '2' });
  await eventually(async () => (await longLived.resolve('m')).version === 2, 10_000, 'the announcement after the restart');
});
