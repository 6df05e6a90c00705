/** Per-test Redis access: the shared server's URL and a random key prefix so tests never collide. */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function randomPrefix(): string {
  return `switchyard-test:${randomBytes(6).toString('hex')}:`;
}
