/**
 * Makes sure the tests have a real Redis before any file runs: REDIS_URL, else 127.0.0.1:6379,
 * else a redis-server of our own on a free port, else stop at once saying how to get one.
 */
import type { TestProject } from 'vitest/node';
import { unsupportedNodeMessage } from '../../src/node-version.js';
import { hasRedisServerBinary, pingRedis, startRedisServer, type OwnRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let own: OwnRedisServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  // The suite holds the supported Node to its word: it runs on the pinned Node 24 or not at all.
  const unsupported = unsupportedNodeMessage();
  if (unsupported) throw new Error(unsupported);
  console.log(`tests run on node ${process.version}`);
  const candidate = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let url = candidate;
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
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await own?.stop();
}
