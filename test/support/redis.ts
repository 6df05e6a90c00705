/** Per-test Redis access: the shared server's URL and a random key prefix so tests never collide. */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function randomPrefix(): string {
  return `switchyard-test:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under `prefix` (what a test wrote), so the shared Redis does not fill up. */
export async function deleteKeysUnder(prefix: string, url = testRedisUrl()): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await client.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
