/**
 * The operator CLI as a real child process: help and exit codes, Redis mode against two running
 * replicas sharing one prefix (applied through its announcement, not a cache refresh), and admin
 * API mode.
 */
import { expect, it } from 'vitest';
import { runCli as cli } from '../support/cli.js';
import { consistently, eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { linearVersions } from '../support/models.js';
import { randomPrefix, testRedis, testRedisUrl } from '../support/redis.js';

const TOKEN = 'cli-test-token';
const twoVersions = { linear: linearVersions(1, 2) };



function start(env: Record<string, string>, prefix?: string): Promise<TestGateway> {
  return startTestGateway({ models: twoVersions, env, ...(prefix ? { redis: { prefix } } : {}) });
}

it('prints help on every level with exit code 0', async () => {
  const levels = [['--help'], ['routes', '--help'], ['models', '-h'], ['routes', 'set', '--help'], ['routes', 'split', '--help'], ['routes', 'get', '--help'], ['routes', 'rm', '--help'], ['models', 'ls', '--help'], ['models', 'load', '--help'], ['models', 'unload', '--help']];
  const results = await Promise.all(levels.map((args) => cli(args)));
  results.forEach((result, index) => {
    expect(result.code, levels[index]!.join(' ')).toBe(0);
    expect(result.stdout).toMatch(/^Usage: switchyard/);
  });
  expect(results[3]!.stdout).toContain('routes set <model> <alias>=<target>');
});

it('exits 2 on usage mistakes and 1 on refused operations', async () => {
  const [none, unknown, badSub, badFlag, noConnection, badPair] = await Promise.all([
    cli([]),
    cli(['frobnicate']),
    cli(['routes', 'move']),
    cli(['routes', 'get', 'linear', '--bogus']),
    cli(['routes', 'get', 'linear']),
    cli(['routes', 'set', 'linear', 'stable', '--redis', testRedisUrl()]),
  ]);
  for (const result of [none, unknown, badSub, badFlag, noConnection, badPair]) expect(result.code).toBe(2);
  expect(unknown.stderr).toContain('unknown command "frobnicate"');
  expect(noConnection.stderr).toContain('--url or --redis');
  expect(badPair.stderr).toContain('"stable" is not <alias>=<target>');

  // Refused by the store: a loop, and a malformed target; nothing is written.
  const prefix = randomPrefix();
  const redis = testRedis();
  const loop = await cli(['routes', 'set', 'linear', 'default=stable', 'stable=default', '--redis', testRedisUrl(), '--prefix', prefix]);
  expect(loop.code).toBe(1);
  expect(loop.stderr).toContain('INVALID_REQUEST');
  const malformed = await cli(['routes', 'split', 'linear', 'canary', '2:x', '--redis', testRedisUrl(), '--prefix', prefix]);
  expect(malformed.code).toBe(1);
  expect(await redis.exists(`${prefix}routes:linear`)).toBe(0);

  const unreachable = await cli(['models', 'ls', '--url', 'http://127.0.0.1:9']);
  expect(unreachable.code).toBe(1);
  expect(unreachable.stderr).toContain('cannot reach');
});

it('applies a Redis-mode edit on every replica through its announcement', async () => {
  const prefix = randomPrefix();
  // A route cache that never expires during the test: only the CLI's announcement on
  // <prefix>routes:changed can bring an edit to a replica (the "within 100 ms" of the README is
  // this mechanism; its speed is the benchmark's business, not a test's).
  const env = { ROUTE_CACHE_TTL_MS: '600000' };
  const replicas = [await start(env, prefix), await start(env, prefix)];
  for (const r of replicas) expect((await r.gateway.router.resolve('linear')).version).toBe(2);
  const redisArgs = ['--redis', testRedisUrl(), '--prefix', prefix];

  for (const [args, expected] of [
    [['routes', 'set', 'linear', 'default=stable', 'stable=1'], 1],
    [['routes', 'set', 'linear', 'stable=2'], 2],
    [['routes', 'rm', 'linear', 'default'], 2],
    [['routes', 'set', 'linear', '{"default": "1"}'], 1],
  ] as const) {
    const result = await cli([...args, ...redisArgs]);
    expect(result.code, result.stderr).toBe(0);
    for (const [i, r] of replicas.entries()) {
      await eventually(async () => (await r.gateway.router.resolve('linear')).version === expected, 10_000, `replica ${i} applies ${args.join(' ')}`);
    }
  }
  // The counterpart: a raw HSET has no announcement, so with that cache it is not seen (with the
  // default 250 ms cache it would be, well within this look).
  await testRedis().hset(`${prefix}routes:linear`, 'default', '2');
  for (const r of replicas) await consistently(async () => (await r.gateway.router.resolve('linear')).version === 1, 600, 'the cached table');
  await testRedis().hset(`${prefix}routes:linear`, 'default', '1');
  const shown = await cli(['routes', 'get', 'linear', ...redisArgs]);
  expect(JSON.parse(shown.stdout)).toEqual({ default: '1' });
  const removed = await cli(['routes', 'rm', 'linear', ...redisArgs]);
  expect(removed.stdout).toContain('removed the routing table of linear');
  expect(JSON.parse((await cli(['routes', 'get', 'linear', ...redisArgs])).stdout)).toEqual({});
});

it('works through the admin API: split, get, rm, version checks, models ls/unload/load', async () => {
  const t = await start({ ADMIN_TOKEN: TOKEN });
  const api = ['--url', t.url];
  const env = { ADMIN_TOKEN: TOKEN };

  const noToken = await cli(['routes', 'get', 'linear', ...api]);
  expect(noToken.code).toBe(1);
  expect(noToken.stderr).toContain('401');

  const split = await cli(['routes', 'split', 'linear', 'canary', '1:90', '2:10', ...api], env);
  expect(split.code, split.stderr).toBe(0);
  expect(JSON.parse(split.stdout)).toEqual({ canary: '1:90,2:10' });

  const unknownVersion = await cli(['routes', 'set', 'linear', 'stable=9', ...api, '--token', TOKEN]);
  expect(unknownVersion.code).toBe(1);
  expect(unknownVersion.stderr).toContain('version 9');
  const forced = await cli(['routes', 'set', 'linear', 'stable=9', '--force', ...api], env);
  expect(forced.code, forced.stderr).toBe(0);
  expect(JSON.parse(forced.stdout)).toEqual({ canary: '1:90,2:10', stable: '9' });

  expect((await cli(['routes', 'rm', 'linear', 'stable', ...api], env)).code).toBe(0);
  expect(JSON.parse((await cli(['routes', 'get', 'linear', ...api], env)).stdout)).toEqual({ canary: '1:90,2:10' });

  const ls = await cli(['models', 'ls', ...api], env);
  expect(ls.code).toBe(0);
  expect(ls.stdout.split('\n').filter((line) => line.startsWith('linear\t'))).toEqual(['linear\t1\tREADY\t', 'linear\t2\tREADY\t']);
  expect((await cli(['models', 'unload', 'linear', ...api], env)).code).toBe(0);
  expect(t.gateway.registry.servableVersions('linear')).toEqual([]);
  expect((await cli(['models', 'load', 'linear', ...api], env)).code).toBe(0);
  expect([...t.gateway.registry.servableVersions('linear')].sort()).toEqual([1, 2]);
  const ghost = await cli(['models', 'load', 'ghost', ...api], env);
  expect(ghost.code).toBe(1);
  expect(ghost.stderr).toContain('MODEL_NOT_FOUND');
});
