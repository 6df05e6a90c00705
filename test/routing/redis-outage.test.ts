/**
 * Redis going away under a live router, on a private redis-server this test kills and restarts:
 * the last known table keeps serving, nothing hangs, status says so, and edits apply again once
 * Redis is back.
 */
import { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RedisRouteSource } from '../../src/routing/redis-route-source.js';
import { Router } from '../../src/routing/router.js';
import { startRedisServer, type OwnRedisServer } from '../support/redis-server.js';
import { randomPrefix } from '../support/redis.js';
import { observeWithin, sleep } from './poll.js';

let server: OwnRedisServer;
let source: RedisRouteSource;
let router: Router;
// The support helper's stop() waits for an exit that a killed server already had; skip it then.
let serverDown = false;

beforeEach(async () => {
  serverDown = false;
  server = await startRedisServer();
  source = new RedisRouteSource({ url: server.url, prefix: randomPrefix(), maxReconnectDelayMs: 200 });
  // A short cache lifetime, so the outage is met by refreshes that fail, not hidden by fresh entries.
  router = new Router({
    source,
    servableVersions: () => [1, 2, 3],
    knownVersions: () => [1, 2, 3],
    cacheTtlMs: 20,
  });
});

afterEach(async () => {
  // Every step runs even if an earlier one fails: a leaked redis-server would outlive the run.
  await Promise.allSettled([router?.close(), source?.close()]);
  if (!serverDown) await server?.stop();
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
  serverDown = true;
  const down = await observeWithin(5000, async () => router.status().source.connected, (connected) => !connected);
  expect(down.observed).toBe(true);

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
  serverDown = false;
  const up = await observeWithin(10_000, async () => router.status().source.connected, Boolean);
  expect(up.observed).toBe(true);
  expect(router.status().source.lastError).toBeUndefined();

  // The restarted server is empty (no persistence): a raw HSET, as an operator would redo it.
  const raw = new Redis(server.url);
  try {
    await raw.hset(`${source.prefix}routes:m`, { default: 'stable', stable: '3' });
    const applied = await observeWithin(1000, () => router.resolve('m'), (res) => res.version === 3);
    expect(applied.observed, `still ${JSON.stringify(applied.last)}`).toBe(true);
  } finally {
    await raw.quit();
  }

  // And the project's own edits work again.
  await source.setRoute('m', 'stable', '1');
  const edited = await observeWithin(100, () => router.resolve('m'), (res) => res.version === 1);
  expect(edited.observed, `still ${JSON.stringify(edited.last)}`).toBe(true);
});

it('re-subscribes after a restart, so announcements from another replica arrive again', async () => {
  const other = new RedisRouteSource({ url: server.url, prefix: source.prefix });
  const longLived = new Router({
    source,
    servableVersions: () => [1, 2, 3],
    knownVersions: () => [1, 2, 3],
    // Only an announcement can bring the edit within the bound.
    cacheTtlMs: 60_000,
  });
  try {
    await Promise.all([source.ready(), other.ready()]);
    await other.setRoutes('m', { default: '1' });
    expect((await longLived.resolve('m')).version).toBe(1);

    await server.kill();
    serverDown = true;
    await observeWithin(5000, async () => source.status().connected, (connected) => !connected);
    await server.restart();
    serverDown = false;
    await Promise.all([source.ready(), other.ready()]);

    await other.setRoutes('m', { default: '2' });
    const seen = await observeWithin(100, () => longLived.resolve('m'), (res) => res.version === 2);
    expect(seen.observed, `still ${JSON.stringify(seen.last)}`).toBe(true);
  } finally {
    await longLived.close();
    await other.close();
  }
});
