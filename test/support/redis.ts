/**
 * Per-test access to the shared Redis: its URL, random key prefixes that are always deleted
 * afterwards, and clients that are always closed. Every prefix lives under this run's namespace
 * (`switchyard-test:<run>:`, chosen by global-setup.ts), so the end of the run can prove that no
 * test left a key behind, whatever other runs on the same Redis are doing.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { inject } from 'vitest';
import { cleanupAfter } from './cleanup.js';
import { startRedisServer, type OwnRedisServer } from './redis-server.js';

/** Every test key of every run starts with this. */
export const TEST_KEY_ROOT = 'switchyard-test:';

export function testRedisUrl(): string {
  return inject('redisUrl');
}

/** This run's namespace, e.g. `switchyard-test:run-1a2b3c:`. */
export function runKeyNamespace(): string {
  return inject('redisKeyNamespace');
}

/**
 * A fresh `<namespace><random>:` prefix. Its keys on the shared Redis are deleted when the current
 * test ends (or the file, outside a test), after the gateways and clients registered later closed.
 */
export function randomPrefix(): string {
  const prefix = `${runKeyNamespace()}${randomBytes(6).toString('hex')}:`;
  cleanupAfter(() => deleteKeysUnder(prefix));
  return prefix;
}

/** True for a prefix this run made (so deleting under it can only touch test keys). */
export function isTestPrefix(prefix: string): boolean {
  return prefix.startsWith(runKeyNamespace()) && prefix.length > runKeyNamespace().length;
}

/** Every key under `pattern` (a SCAN MATCH glob), bounded by `limit`. */
export async function scanKeys(client: Redis, pattern: string, limit = 100_000): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0' && found.length < limit);
  return found;
}

/** Deletes every key under `prefix` (what a test wrote). Refuses prefixes outside the test namespace. */
export async function deleteKeysUnder(prefix: string, url = testRedisUrl()): Promise<void> {
  if (!prefix.startsWith(TEST_KEY_ROOT) || prefix === TEST_KEY_ROOT) throw new Error(`refusing to delete keys under "${prefix}": not a test prefix`);
  const client = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    const keys = await scanKeys(client, `${prefix}*`);
    for (let i = 0; i < keys.length; i += 500) await client.unlink(...keys.slice(i, i + 500));
  } finally {
    client.disconnect();
  }
}

/** An ioredis client on the shared Redis (or `url`), disconnected when the test (or file) ends. */
export function testRedis(url = testRedisUrl(), options: RedisOptions = {}): Redis {
  const client = new Redis(url, options);
  client.on('error', () => {}); // a test that kills its server expects errors; commands still reject
  cleanupAfter(() => client.disconnect());
  return client;
}

/**
 * A private, non-persistent redis-server for fault tests (kill, restart, SIGSTOP), stopped when
 * the test (or file) ends. Its keys die with it, so prefixes on it need no cleanup.
 */
export async function startPrivateRedis(): Promise<OwnRedisServer> {
  const server = await startRedisServer();
  cleanupAfter(() => server.stop());
  return server;
}

/**
 * Redis for a test gateway (or process): `true` for the shared Redis under a fresh prefix this
 * gateway owns (its keys are deleted when it closes); `{ prefix }` to share a prefix the test
 * owns (from randomPrefix(): deleted when the test ends, so keys survive a restart in between);
 * `{ url }` for a private redis-server (startPrivateRedis()), under a fresh prefix.
 */
export type RedisChoice = boolean | { readonly url?: string; readonly prefix?: string };

export interface RedisSettings {
  readonly url: string;
  readonly prefix: string;
  /** Whether whoever asked for Redis owns the prefix (and deletes its keys when it closes). */
  readonly owned: boolean;
}

/**
 * Resolves `redis` (and any REDIS_URL/REDIS_PREFIX already in `env`) to settings, refusing the
 * shared Redis under a prefix that is not a test prefix: such keys could never be cleaned up.
 */
export function redisSettings(redis: RedisChoice | undefined, env: Record<string, string | undefined>): RedisSettings | undefined {
  if (redis !== undefined && redis !== false) {
    const choice = redis === true ? {} : redis;
    const url = choice.url ?? testRedisUrl();
    const owned = choice.prefix === undefined;
    if (!owned && url === testRedisUrl() && !isTestPrefix(choice.prefix!)) throw new Error(`"${choice.prefix}" is not a test prefix: use randomPrefix()`);
    return { url, prefix: choice.prefix ?? randomPrefix(), owned };
  }
  const url = env.REDIS_URL;
  if (url === undefined || url === '') return undefined;
  const prefix = env.REDIS_PREFIX;
  if (url === testRedisUrl() && (prefix === undefined || !isTestPrefix(prefix))) {
    throw new Error(`a test gateway on the shared Redis needs a test prefix (redis: true, or REDIS_PREFIX: randomPrefix()), got ${JSON.stringify(prefix)}`);
  }
  return { url, prefix: prefix ?? randomPrefix(), owned: false };
}

