/**
 * Rate limits while Redis hangs (a private redis-server under SIGSTOP: connections stay open,
 * nothing is answered), over real HTTP. The README promises that a check never waits on Redis
 * past its timeout and that each replica then counts in memory; after SIGCONT the shared counters
 * in Redis count again. Limits use long windows (burst 3 at 0.1 rps = 30 s), so no assertion
 * depends on the clock.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { scanKeys, startPrivateRedis, testRedis } from '../support/redis.js';

const predict = (g: TestGateway, key: string) => g.post('/models/linear/predict', LINEAR_INPUT, { 'x-api-key': key });

async function statuses(g: TestGateway, key: string, count: number): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await predict(g, key);
    await response.arrayBuffer();
    result.push(response.status);
  }
  return result;
}

/** The rate limit identity of an API key (api-key-auth.ts: a digest prefix, never the key). */
const keyId = (key: string) => `key:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;

describe('rate limits with a hung Redis', () => {
  it('fall back to the in-memory limiter while Redis is stopped, and count in Redis again after SIGCONT', async () => {
    const server = await startPrivateRedis();
    const g = await startTestGateway({
      redis: { url: server.url },
      env: { API_KEYS: 'alpha,beta', RATE_LIMIT_CLIENT_RPS: '0.1', RATE_LIMIT_CLIENT_BURST: '3' },
    });
    // Cleanups run newest first: Redis answers again before the gateway closes.
    let paused = false;
    cleanupAfter(() => paused && server.resume());
    const redis = testRedis(server.url);
    const counterOf = async (key: string): Promise<string | undefined> => {
      const [found] = await scanKeys(redis, `${g.redisPrefix}rl:client:*:${keyId(key)}`);
      return found === undefined ? undefined : ((await redis.get(found)) ?? undefined);
    };

    // Redis counts: alpha's first request is in the shared counter.
    expect(await statuses(g, 'alpha', 1)).toEqual([200]);
    expect(await counterOf('alpha')).toBe('1');

    server.pause();
    paused = true;
    // Every request is answered (none waits on the stopped server), and limited: the memory
    // limiter counts alpha from zero in this replica, so three pass and the rest are 429.
    const during = await statuses(g, 'alpha', 5);
    expect(during).toEqual([200, 200, 200, 429, 429]);

    server.resume();
    paused = false;
    // beta was never seen while Redis was stopped, so a counter of beta's in Redis can only come
    // from the Redis limiter after SIGCONT; it counts exactly beta's requests.
    await eventually(async () => (await statuses(g, 'beta', 1))[0] === 200 && (await counterOf('beta')) !== undefined, 20_000, 'beta to be counted in Redis');
    const counted = Number(await counterOf('beta'));
    expect(await statuses(g, 'beta', 3 - counted)).toEqual(Array(3 - counted).fill(200));
    expect(await counterOf('beta')).toBe('3');
    expect(await statuses(g, 'beta', 1)).toEqual([429]);
  });
});
