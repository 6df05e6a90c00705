/** config/routes.json as the routing source: absent, valid, edited, broken, and written by the store. */
import { mkdtemp, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRouteSource } from '../../src/routing/create-route-source.js';
import { FileRouteSource } from '../../src/routing/file-route-source.js';
import { RedisRouteSource } from '../../src/routing/redis-route-source.js';
import { Router } from '../../src/routing/router.js';
import { randomPrefix, testRedisUrl } from '../support/redis.js';
import { observeWithin, rejectionOf, sleep } from './poll.js';

let dir: string;
let file: string;
const closers: (() => Promise<void>)[] = [];

function open(): { source: FileRouteSource; router: Router } {
  const source = new FileRouteSource({ path: file });
  const router = new Router({ source, servableVersions: () => [1, 2, 3], knownVersions: () => [1, 2, 3] });
  closers.push(() => source.close(), () => router.close());
  return { source, router };
}

/** Writes the file in one step, as editors that save by rename do. */
async function save(content: string): Promise<void> {
  const temporary = `${file}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, file);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-routes-'));
  file = join(dir, 'routes.json');
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await rm(dir, { recursive: true, force: true });
});

describe('FileRouteSource', () => {
  it('treats an absent file as an empty table, and picks the file up once it appears', async () => {
    const { source, router } = open();
    await source.ready();
    expect(await source.read('m')).toBeUndefined();
    expect(source.status()).toEqual({ kind: 'file', connected: true });
    expect(await router.resolve('m')).toEqual({ version: 3, alias: 'latest' });

    await save(JSON.stringify({ m: { default: '1' } }));
    const seen = await observeWithin(5000, () => router.resolve('m'), (res) => res.version === 1);
    expect(seen.observed, `still ${JSON.stringify(seen.last)}`).toBe(true);
  });

  it('reads a valid file and applies edits to it', async () => {
    await save(JSON.stringify({ m: { default: 'stable', stable: '2' }, other: { latest: '1' } }));
    const { source, router } = open();
    expect(await router.resolve('m')).toEqual({ version: 2, alias: 'default' });
    expect(await source.readAll()).toEqual({ m: { default: 'stable', stable: '2' }, other: { latest: '1' } });

    const changed: (string | undefined)[] = [];
    source.onChange((model) => changed.push(model));
    await writeFile(file, JSON.stringify({ m: { default: 'stable', stable: '3' }, other: { latest: '1' } }));
    const seen = await observeWithin(5000, () => router.resolve('m'), (res) => res.version === 3);
    expect(seen.observed, `still ${JSON.stringify(seen.last)}`).toBe(true);
    // Only the model whose table differs is announced.
    expect(changed).toContain('m');
    expect(changed).not.toContain('other');
  });

  it.each([
    ['invalid JSON', '{"m": {"default": "1"', /not valid JSON/],
    ['the wrong shape', JSON.stringify({ m: { default: 2 } }), /is not \{"<model>"/],
    ['an empty file', '', /is empty/],
  ])('keeps the last good table on %s and reports why', async (_name, content, reason) => {
    await save(JSON.stringify({ m: { default: '2' } }));
    const { source, router } = open();
    expect((await router.resolve('m')).version).toBe(2);

    await save(content);
    const reported = await observeWithin(5000, async () => source.status().lastError, (error) => error !== undefined);
    expect(reported.observed).toBe(true);
    expect(source.status().lastError).toMatch(reason);
    expect(source.status().lastError).toContain(file);
    expect(await source.read('m')).toEqual({ default: '2' });
    // Even past the cache lifetime (250 ms) the router keeps the last good table.
    await sleep(300);
    for (let i = 0; i < 5; i++) expect((await router.resolve('m')).version).toBe(2);

    await save(JSON.stringify({ m: { default: '1' } }));
    const fixed = await observeWithin(5000, () => router.resolve('m'), (res) => res.version === 1);
    expect(fixed.observed).toBe(true);
    expect(source.status().lastError).toBeUndefined();
  });

  it('writes edits through the store atomically and applies them at once', async () => {
    await save(JSON.stringify({ other: { default: '1' } }));
    const { source, router } = open();
    await source.setRoutes('m', { default: 'stable', stable: '2' });
    expect(await router.resolve('m')).toEqual({ version: 2, alias: 'default' });

    await source.setRoute('m', 'stable', '3');
    const seen = await observeWithin(100, () => router.resolve('m'), (res) => res.version === 3);
    expect(seen.observed).toBe(true);

    expect(await source.deleteRoute('m', 'default')).toBe(true);
    expect(await source.deleteRoute('m', 'default')).toBe(false);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ other: { default: '1' }, m: { stable: '3' } });
    expect(await rejectionOf(source.setRoute('m', 'canary', '3:x'))).toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('refuses to write over a file that does not parse', async () => {
    await save('{ oops');
    const { source } = open();
    await source.ready();
    expect(await rejectionOf(source.setRoute('m', 'stable', '2'))).toMatchObject({ code: 'ROUTING_UNAVAILABLE' });
    expect(await readFile(file, 'utf8')).toBe('{ oops');
  });

  it('closes twice without complaint', async () => {
    const { source } = open();
    await source.ready();
    await source.close();
    await source.close();
  });
});

describe('createRouteSource', () => {
  it('uses Redis when a URL is given and the file otherwise', async () => {
    const redis = createRouteSource({ redisUrl: testRedisUrl(), redisPrefix: randomPrefix() });
    const local = createRouteSource({ routesFile: file });
    closers.push(() => redis.close(), () => local.close());
    expect(redis).toBeInstanceOf(RedisRouteSource);
    expect(local).toBeInstanceOf(FileRouteSource);
    expect(local.status().kind).toBe('file');
    expect(redis.status().kind).toBe('redis');
  });
});
