/**
 * Shutdown while Redis hangs (a private redis-server under SIGSTOP): every Redis connection the
 * gateway holds (routing client and subscriber, rate limits, the job queue) is closed without
 * waiting for an answer that never comes. QUIT is a command; before the fix the routing source
 * waited on it forever, and so did the whole shutdown.
 */
import { expect, it } from 'vitest';
import { settlesWithin } from '../../src/settles-within.js';
import { cleanupAfter } from '../support/cleanup.js';
import { LINEAR_INPUT, startTestGateway } from '../support/gateway.js';
import { startPrivateRedis } from '../support/redis.js';

it('finishes while Redis answers nothing, with routes, rate limits and jobs on Redis', async () => {
  const server = await startPrivateRedis();
  const g = await startTestGateway({
    redis: { url: server.url },
    env: { API_KEYS: 'alpha', RATE_LIMIT_CLIENT_RPS: '100', DRAIN_TIMEOUT_MS: '2000' },
  });
  let paused = false;
  cleanupAfter(() => paused && server.resume());
  // Every connection is live: a prediction went through routing and the Redis rate limiter.
  const response = await g.post('/models/linear/predict', LINEAR_INPUT, { 'x-api-key': 'alpha' });
  expect(response.status).toBe(200);

  server.pause();
  paused = true;
  // Not a stopwatch: a shutdown that waits on Redis never ends, so any generous bound tells.
  expect(await settlesWithin(g.gateway.shutdown(), 30_000)).toBe(true);
});
