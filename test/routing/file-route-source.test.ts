/** config/routes.json as the routing source: absent, valid, edited, broken, and written by the store. */
import { readFile, writeFile } from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { createRouteSource } from '../../src/routing/create-route-source.js';
import { FileRouteSource } from '../../src/routing/file-route-source.js';
import { RedisRouteSource } from '../../src/routing/redis-route-source.js';
import { Router } from '../../src/routing/router.js';
import { cleanupAfter } from '../support/cleanup.js';
import { rejectionOf } from '../support/errors.js';
import { consistently, eventually, sleep } from '../support/eventually.js';
import { randomPrefix, testRedisUrl } from '../support/redis.js';
import { tempDir, writeTextAtomically } from '../support/temp-dir.js';

let file: string;

/** A source on the test's file and a router over it (cache lifetime: the router's default unless given). */
function open(cacheTtlMs?: number): { source: FileRouteSource; router: Router } {
  const source = new FileRouteSource({ path: file });
  const router = new Router({ source, servableVersions: () => [1, 2, 3], knownVersions: () => [1, 2, 3], ...(cacheTtlMs ? { cacheTtlMs } : {}) });
  cleanupAfter(() => source.close());
  cleanupAfter(() => router.close());
  return { source, router };
}

/** Writes the file in one step, as editors that save by rename do. */
const save = (content: string): Promise<void> => writeTextAtomically(file, content);

const versionOf = async (router: Router, model = 'm') => (await router.resolve(model)).version;

beforeEach(async () => {
  // Every test here must check something (one used to only run code and pass whatever it did).
  expect.hasAssertions();
  file = (await tempDir('routes')).join('routes.json');
});

describe('FileRouteSource', () => {
  it('treats an absent file as an empty table, and picks the file up once it appears', async () => {
    const { source, router } = open();
    await source.ready();
    expect(await source.read('m')).toBeUndefined();
    expect(source.status()).toEqual({ kind: 'file', connected: true });
    expect(await router.resolve('m')).toEqual({ version: 3, alias: 'latest' });

    await save(JSON.stringify({ m: { default: '1' } }));
    await eventually(async () => (await versionOf(router)) === 1, 5000, 'the new file applied');
  });

  it('reads a valid file and applies edits to it', async () => {
    await save(JSON.stringify({ m: { default: 'stable', stable: '2' }, other: { latest: '1' } }));
    const { source, router } = open();
    expect(await router.resolve('m')).toEqual({ version: 2, alias: 'default' });
    expect(await source.readAll()).toEqual({ m: { default: 'stable', stable: '2' }, other: { latest: '1' } });

    const changed: (string | undefined)[] = [];
    source.onChange((model) => changed.push(model));
    await writeFile(file, JSON.stringify({ m: { default: 'stable', stable: '3' }, other: { latest: '1' } }));
    await eventually(async () => (await versionOf(router)) === 3, 5000, 'the edit applied');
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
    // A short cache lifetime, so the bad file is met by refreshes, not hidden by a fresh entry.
    const { source, router } = open(20);
    expect(await versionOf(router)).toBe(2);

    await save(content);
    await eventually(() => source.status().lastError !== undefined, 5000, 'the bad file reported');
    expect(source.status().lastError).toMatch(reason);
    expect(source.status().lastError).toContain(file);
    expect(await source.read('m')).toEqual({ default: '2' });
    // Many cache lifetimes later the router still answers from the last good table.
    await sleep(100);
    await consistently(async () => (await versionOf(router)) === 2, 200, 'the last good table');

    await save(JSON.stringify({ m: { default: '1' } }));
    await eventually(async () => (await versionOf(router)) === 1, 5000, 'the fixed file applied');
    expect(source.status().lastError).toBeUndefined();
  });

  it('writes edits through the store atomically and applies them at once', async () => {
    await save(JSON.stringify({ other: { default: '1' } }));
    // A cache that outlives the test: only the store's own announcement can bring the edit.
    const { source, router } = open(600_000);
    await source.setRoutes('m', { default: 'stable', stable: '2' });
    expect(await router.resolve('m')).toEqual({ version: 2, alias: 'default' });

    const announced: (string | undefined)[] = [];
    source.onChange((model) => announced.push(model));
    await source.setRoute('m', 'stable', '3');
    // Announced before the write resolved, and the router applies it.
    expect(announced).toContain('m');
    await eventually(async () => (await versionOf(router)) === 3, 5000, 'the store edit applied');

    expect((await source.deleteRoute('m', 'default')).removed).toBe(true);
    expect((await source.deleteRoute('m', 'default')).removed).toBe(false);
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

  it('closes twice without complaint, then refuses edits and stops following the file', async () => {
    await save(JSON.stringify({ m: { default: '2' } }));
    const { source } = open();
    await source.ready();
    const announced: (string | undefined)[] = [];
    source.onChange((model) => announced.push(model));
    await expect(source.close()).resolves.toBeUndefined();
    await expect(source.close()).resolves.toBeUndefined();

    expect(await rejectionOf(source.setRoute('m', 'stable', '3'))).toMatchObject({ code: 'ROUTING_UNAVAILABLE', message: expect.stringContaining('closed') });
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ m: { default: '2' } });
    // A later edit of the file is neither read nor announced: the watcher is gone.
    await save(JSON.stringify({ m: { default: '1' } }));
    await consistently(async () => JSON.stringify(await source.read('m')) === '{"default":"2"}', 500, 'the table read before close');
    expect(announced).toEqual([]);
  });
});

describe('createRouteSource', () => {
  it('uses Redis when a URL is given and the file otherwise', async () => {
    const redis = createRouteSource({ redisUrl: testRedisUrl(), redisPrefix: randomPrefix() });
    const local = createRouteSource({ routesFile: file });
    cleanupAfter(() => redis.close());
    cleanupAfter(() => local.close());
    expect(redis).toBeInstanceOf(RedisRouteSource);
    expect(local).toBeInstanceOf(FileRouteSource);
    expect(local.status().kind).toBe('file');
    expect(redis.status().kind).toBe('redis');
  });
});
