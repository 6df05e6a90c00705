/**
 * Runs once around the whole test run. Makes sure the tests have a real Redis before any file
 * runs (REDIS_URL, else 127.0.0.1:6379, else a redis-server of our own on a free port, else stop
 * at once saying how to get one), gives the run its own key namespace, and at the end fails the
 * run if any test left a key in it.
 *
 * Why a namespace per run rather than "count switchyard-test:* before and after": the shared
 * Redis also serves other runs at the same time, whose keys come and go during ours; only keys
 * under our own namespace are ours to count. Leftovers of earlier runs are not counted, and those
 * idle for an hour (abandoned by a crashed run) are removed at the start.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { unsupportedNodeMessage } from '../../src/node-version.js';
import { hasRedisServerBinary, pingRedis, startRedisServer, type OwnRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** `switchyard-test:run-<hex>:`: every key a test writes starts with it. */
    redisKeyNamespace: string;
  }
}

const TEST_KEY_ROOT = 'switchyard-test:';
/** A key no one has touched for this long belongs to no running test. */
const ABANDONED_AFTER_SECONDS = 3600;

let own: OwnRedisServer | undefined;
let url = '';
let namespace = '';

export async function setup(project: TestProject): Promise<void> {
  // The suite holds the supported Node to its word: it runs on the pinned Node 24 or not at all.
  const unsupported = unsupportedNodeMessage();
  if (unsupported) throw new Error(unsupported);
  console.log(`tests run on node ${process.version}`);
  const candidate = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  url = candidate;
  if (!(await pingRedis(candidate))) {
    if (!hasRedisServerBinary()) {
      throw new Error(
        `No Redis answers at ${candidate} and no redis-server binary is installed.\n` +
          'Install one (Debian/Ubuntu: apt-get install -y redis-server) or set REDIS_URL to a reachable Redis.',
      );
    }
    own = await startRedisServer();
    url = own.url;
  }
  namespace = `${TEST_KEY_ROOT}run-${randomBytes(6).toString('hex')}:`;
  const removed = await removeAbandonedKeys(url);
  if (removed > 0) console.log(`removed ${removed} test keys abandoned by earlier runs (idle for over ${ABANDONED_AFTER_SECONDS} s)`);
  project.provide('redisUrl', url);
  project.provide('redisKeyNamespace', namespace);
}

export async function teardown(): Promise<void> {
  try {
    const left = await withClient(url, (client) => scan(client, `${namespace}*`));
    if (left.length > 0) {
      // vitest 4 ignores an error thrown here (it logs "error during close" and exits 0), so the
      // run is failed through the exit code, loudly, and the keys are removed for the next run.
      process.exitCode = 1;
      const shown = left.slice(0, 20).join('\n  ');
      console.error(
        `\n${'='.repeat(78)}\nTEST RUN FAILED: tests left ${left.length} Redis key(s) behind under ${namespace}\n  ${shown}` +
          `${left.length > 20 ? `\n  ... and ${left.length - 20} more` : ''}\n` +
          'Use randomPrefix() / startTestGateway({ redis: true }) from test/support, which delete their keys.\n' +
          `${'='.repeat(78)}\n`,
      );
      await withClient(url, async (client) => {
        for (let i = 0; i < left.length; i += 500) await client.unlink(...left.slice(i, i + 500));
      });
    }
  } finally {
    await own?.stop();
  }
}

async function withClient<T>(target: string, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(target, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

async function scan(client: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  // Bounded: a Redis with more test keys than this has a problem a bigger number would not fix.
  for (let round = 0; round < 10_000; round++) {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
    if (cursor === '0') break;
  }
  return found;
}

/** Deletes test keys (any run's) that nothing has read or written for ABANDONED_AFTER_SECONDS. */
async function removeAbandonedKeys(target: string): Promise<number> {
  return withClient(target, async (client) => {
    const keys = await scan(client, `${TEST_KEY_ROOT}*`);
    let removed = 0;
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const pipeline = client.pipeline();
      for (const key of batch) pipeline.object('IDLETIME', key);
      const idle = (await pipeline.exec()) ?? [];
      // An LFU eviction policy has no IDLETIME (the command errors): then nothing is removed.
      const abandoned = batch.filter((_, j) => {
        const [error, seconds] = idle[j] ?? [];
        return !error && typeof seconds === 'number' && seconds >= ABANDONED_AFTER_SECONDS;
      });
      if (abandoned.length > 0) removed += await client.unlink(...abandoned);
    }
    return removed;
  });
}
