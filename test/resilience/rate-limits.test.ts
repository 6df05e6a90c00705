/**
 * Rate limits over real HTTP: two gateways sharing one Redis enforce one limit together, a 429
 * says when to come back, per-model overrides in Redis apply without a restart, the in-memory
 * limiter works without Redis, and a dead Redis degrades to per-replica limits, never to errors.
 * Limits use long windows (burst 5 at 0.1 rps = 50 s) so no assertion depends on the clock.
 */
import { describe, expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type RedisChoice, type TestGateway } from '../support/gateway.js';
import { expectError, expectV2Error } from '../support/http.js';
import { LINEAR_V2_INPUT, linearModel, type ModelSet } from '../support/models.js';
import { randomPrefix, startPrivateRedis, testRedis } from '../support/redis.js';

const gateway = (env: Record<string, string>, options: { models?: ModelSet; redis?: RedisChoice } = {}): Promise<TestGateway> =>
  startTestGateway({ env, ...options });

const predict = (g: TestGateway, headers: Record<string, string> = {}, model = 'linear') => g.post(`/models/${model}/predict`, LINEAR_INPUT, headers);
const V2_INPUT = { inputs: [LINEAR_V2_INPUT] };

async function statuses(requests: Array<() => Promise<Response>>): Promise<number[]> {
  const result: number[] = [];
  for (const request of requests) {
    const response = await request();
    await response.arrayBuffer();
    result.push(response.status);
  }
  return result;
}

describe('shared through Redis', () => {
  it('two gateways with one Redis enforce one client limit together, and the 429 says when to retry', async () => {
    const redis = { prefix: randomPrefix() };
    const env = { RATE_LIMIT_CLIENT_RPS: '0.1', RATE_LIMIT_CLIENT_BURST: '5' };
    const [a, b] = [await gateway(env, { redis }), await gateway(env, { redis })];
    // Five requests spread over both replicas: one bucket of five.
    expect(await statuses([() => predict(a), () => predict(b), () => predict(a), () => predict(b), () => predict(a)])).toEqual([200, 200, 200, 200, 200]);

    const refused = await predict(b);
    expect((await expectError(refused, 429, 'RATE_LIMITED')).details).toEqual({ scope: 'client', limit: 5, window_seconds: 50 });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 50).toBe(true);
    expect(refused.headers.get('ratelimit-limit')).toBe('5');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('ratelimit-reset')).toBe(String(retryAfter));
    expect(refused.headers.get('ratelimit-policy')).toBe('5;w=50');

    // The other replica agrees, and V2 infer counts against the same client (in the V2 error shape).
    await expectError(predict(a), 429, 'RATE_LIMITED');
    const v2 = await a.post('/v2/models/linear/infer', V2_INPUT);
    expect(v2.headers.get('retry-after')).not.toBeNull();
    expect(v2.headers.get('ratelimit-limit')).toBe('5');
    await expectV2Error(v2, 429, 'rate limit');

    // Health, metadata and metrics are not limited; the refusals are counted.
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${a.url}/models/linear`)).status).toBe(200);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/rate_limited_total\{model="linear",scope="client"\} 2/);
  });

  it('applies a per-model override from Redis without a restart, and rps 0 lifts the limit', async () => {
    const prefix = randomPrefix();
    const redis = testRedis();
    const g = await gateway(
      { RATE_LIMIT_MODEL_RPS: '0.1', RATE_LIMIT_MODEL_BURST: '3', RATE_LIMIT_CACHE_TTL_MS: '50' },
      { models: { linear: { 1: linearModel() }, other: { 1: linearModel() } }, redis: { prefix } },
    );
    // The configured model limit: three, then 429 for that model only.
    expect(await statuses([() => predict(g), () => predict(g), () => predict(g), () => predict(g)])).toEqual([200, 200, 200, 429]);
    expect((await expectError(predict(g), 429, 'RATE_LIMITED')).details).toMatchObject({ scope: 'model' });
    expect((await predict(g, {}, 'other')).status).toBe(200);

    // A larger limit for linear: fresh counters once the cache refreshes, then six in all.
    await redis.hset(`${prefix}ratelimits:linear`, { rps: '0.1', burst: '6' });
    await eventually(async () => (await statuses([() => predict(g)]))[0] === 200, 10_000, 'the override to apply');
    // One of the six went to the successful poll above; five more, then the limit.
    expect(await statuses([() => predict(g), () => predict(g), () => predict(g), () => predict(g), () => predict(g)])).toEqual([200, 200, 200, 200, 200]);
    const overLimit = await predict(g);
    expect(overLimit.headers.get('ratelimit-limit')).toBe('6');
    await expectError(overLimit, 429, 'RATE_LIMITED');

    // rps 0: no limit for this model.
    await redis.hset(`${prefix}ratelimits:linear`, { rps: '0' });
    await eventually(async () => (await statuses([() => predict(g)]))[0] === 200, 10_000, 'the model limit to be lifted');
    expect(await statuses(Array.from({ length: 10 }, () => () => predict(g)))).toEqual(Array(10).fill(200));
  });
});

describe('without Redis', () => {
  it('limits in memory, one bucket per API key', async () => {
    const g = await gateway({ RATE_LIMIT_CLIENT_RPS: '0.1', RATE_LIMIT_CLIENT_BURST: '3', API_KEYS: 'alpha,beta' });
    const alpha = { authorization: 'Bearer alpha' };
    const beta = { 'x-api-key': 'beta' };
    expect(await statuses([() => predict(g, alpha), () => predict(g, alpha), () => predict(g, alpha), () => predict(g, alpha)])).toEqual([200, 200, 200, 429]);
    // Another key is another client, with its own full bucket.
    expect(await statuses([() => predict(g, beta), () => predict(g, beta), () => predict(g, beta), () => predict(g, beta)])).toEqual([200, 200, 200, 429]);
  });

  it('limits by IP address without API keys, and not at all when nothing is configured', async () => {
    const limited = await gateway({ RATE_LIMIT_CLIENT_RPS: '0.1', RATE_LIMIT_CLIENT_BURST: '2' });
    expect(await statuses([() => predict(limited), () => predict(limited), () => predict(limited)])).toEqual([200, 200, 429]);
    expect(limited.gateway.rateLimits).toBeDefined();

    const open = await gateway({});
    expect(open.gateway.rateLimits).toBeUndefined();
    expect(await statuses(Array.from({ length: 8 }, () => () => predict(open)))).toEqual(Array(8).fill(200));
  });
});

describe('Redis outage', () => {
  it('keeps serving with per-replica limits when Redis dies', async () => {
    const server = await startPrivateRedis();
    const g = await gateway({ RATE_LIMIT_CLIENT_RPS: '0.1', RATE_LIMIT_CLIENT_BURST: '3' }, { redis: { url: server.url } });
    expect(await statuses([() => predict(g), () => predict(g)])).toEqual([200, 200]);
    await server.kill();

    // The insurance limiter counts from zero in this replica: three more, then 429; never a 5xx.
    const during = await statuses(Array.from({ length: 5 }, () => () => predict(g)));
    expect(during).toEqual([200, 200, 200, 429, 429]);
  });
});
