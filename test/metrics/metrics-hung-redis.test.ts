/**
 * GET /metrics while Redis hangs (a private redis-server under SIGSTOP). The only series read
 * from Redis, the queue-wide job counts, come from a reading refreshed in the background, so a
 * scrape answers from memory: 200, every other series, the last known counts and how old they are.
 * The mechanism is checked in Redis itself: a MONITOR connection sees every command the gateway
 * sent while the server was stopped (they run after SIGCONT), and none of them reads the queue.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { startPrivateRedis, testRedis } from '../support/redis.js';
import type { OwnRedisServer } from '../support/redis-server.js';
import { parseExposition, valueOf, type Sample } from './prometheus-text.js';

async function scrape(g: TestGateway): Promise<Sample[]> {
  const response = await fetch(`${g.url}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/** A private Redis and a gateway on it that works no jobs (so only metrics read the queue). */
async function gatewayOnPrivateRedis(refreshMs: number): Promise<{ server: OwnRedisServer; g: TestGateway; paused: { value: boolean } }> {
  const server = await startPrivateRedis();
  const g = await startTestGateway({
    redis: { url: server.url },
    env: { JOB_CONCURRENCY: '0', METRICS_REDIS_REFRESH_MS: String(refreshMs) },
  });
  // Cleanups run newest first: the server answers again before the gateway closes.
  const paused = { value: false };
  cleanupAfter(() => paused.value && server.resume());
  return { server, g, paused };
}

describe('GET /metrics with a hung Redis', () => {
  it('answers from memory: no scrape sends Redis a command, and the job counts say how old they are', async () => {
    // Refreshed once at start, then not for an hour: in this test only a scrape could read the queue.
    const { server, g, paused } = await gatewayOnPrivateRedis(3_600_000);
    expect((await g.post('/models/linear/predict', LINEAR_INPUT)).status).toBe(200);
    await eventually(async () => valueOf(await scrape(g), 'switchyard_jobs', { status: 'pending' }) === 0, 10_000, 'the first job counts');

    const redis = testRedis(server.url);
    const monitor: Redis = await redis.monitor();
    cleanupAfter(() => monitor.disconnect());
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    await redis.echo('before-pause');
    await eventually(() => seen.some((args) => args[1] === 'before-pause'), 10_000, 'MONITOR to see the marker');
    const queueKeys = `${g.redisPrefix}jobs:`;

    server.pause();
    paused.value = true;
    for (let i = 0; i < 3; i++) {
      const samples = await scrape(g);
      // Everything else is there, and the last known counts with their age.
      expect(valueOf(samples, 'switchyard_requests_total', { model: 'linear', status: '200' })).toBe(1);
      expect(valueOf(samples, 'switchyard_model_state', { model: 'linear', version: '1', state: 'READY' })).toBe(1);
      expect(valueOf(samples, 'switchyard_jobs', { status: 'pending' })).toBe(0);
      expect(valueOf(samples, 'switchyard_jobs_age_seconds')).toBeGreaterThan(0);
    }
    // Still stopped: each answer came from memory.
    server.resume();
    paused.value = false;

    // What the gateway sent during the pause has now reached Redis: everything buffered before
    // SIGCONT is read in the server's first event loop round, before a command sent after the
    // first marker's answer.
    await redis.echo('after-resume-1');
    await redis.echo('after-resume-2');
    await eventually(() => seen.some((args) => args[1] === 'after-resume-2'), 10_000, 'MONITOR to see the second marker');
    const start = seen.findIndex((args) => args[1] === 'before-pause');
    const end = seen.findIndex((args) => args[1] === 'after-resume-2');
    const queueCommands = seen.slice(start, end).filter((args) => args.some((arg) => arg.includes(queueKeys)));
    expect(queueCommands).toEqual([]);
  });

  it('refreshes in the background: the age grows while Redis is stopped and drops after SIGCONT', async () => {
    const refreshMs = 100;
    const { server, g, paused } = await gatewayOnPrivateRedis(refreshMs);
    const age = async () => valueOf(await scrape(g), 'switchyard_jobs_age_seconds') ?? Number.NaN;
    await eventually(async () => (await age()) < 1, 10_000, 'a fresh reading');

    server.pause();
    paused.value = true;
    // Ten refresh intervals without a successful read: the counts are stale, and say so.
    await eventually(async () => (await age()) >= (10 * refreshMs) / 1000, 20_000, 'the age to pass ten refresh intervals');
    expect(valueOf(await scrape(g), 'switchyard_jobs', { status: 'pending' })).toBe(0);

    server.resume();
    paused.value = false;
    await eventually(async () => (await age()) < (10 * refreshMs) / 1000, 20_000, 'a fresh reading after SIGCONT');
  });
});
