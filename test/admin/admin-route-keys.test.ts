/**
 * Names a client chooses (aliases, model names) never land on a plain object: `__proto__` is
 * refused with 400 instead of vanishing (which used to turn a PUT into "remove the table"), and
 * names that Object.prototype happens to have (`constructor`, `toString`) are ordinary names.
 * Through the admin API over real HTTP, on both routing sources, and through the operator CLI.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as cli } from '../support/cli.js';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError, json } from '../support/http.js';
import { linearVersions } from '../support/models.js';
import { randomPrefix, testRedis, testRedisUrl } from '../support/redis.js';

const TOKEN = 'route-keys-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

function start(redis: boolean): Promise<TestGateway> {
  return startTestGateway({ models: { linear: linearVersions(1, 2) }, env: { ADMIN_TOKEN: TOKEN }, ...(redis ? { redis: true } : {}) });
}

/** The body goes out byte for byte, so an own `__proto__` key reaches the server as a client wrote it. */
const put = (t: TestGateway, path: string, body: string) => t.raw('PUT', path, body, auth);
const getRoutes = async (t: TestGateway, model = 'linear') => json(await t.raw('GET', `/admin/routes/${model}`, undefined, auth));

describe.each([
  ['the routes file', false],
  ['Redis', true],
])('admin route edits on %s', (_name, redis) => {
  it('refuses __proto__ as an alias with 400 and leaves the table as it was', async () => {
    const t = await start(redis);
    expect((await put(t, '/admin/routes/linear', '{"default": "1"}')).status).toBe(200);

    for (const body of ['{"__proto__": "2"}', '{"default": "1", "__proto__": "2"}', '{"__proto__": {"default": "2"}}']) {
      const error = await expectError(put(t, '/admin/routes/linear', body), 400, 'INVALID_REQUEST', '__proto__');
      expect(error.message, body).toMatch(/not a valid alias|must be a string/);
    }
    expect(await getRoutes(t)).toEqual({ default: '1' });
    expect((await t.post('/models/linear/predict', LINEAR_INPUT)).headers.get('x-model-version')).toBe('1');
  });

  it('treats constructor as an ordinary alias, and toString as an ordinary model name', async () => {
    const t = await start(redis);
    const written = await put(t, '/admin/routes/linear', '{"constructor": "1", "default": "constructor"}');
    expect(written.status, written.body.toString()).toBe(200);
    expect(json(written)).toEqual({ constructor: '1', default: 'constructor' });
    expect(await getRoutes(t)).toEqual({ constructor: '1', default: 'constructor' });
    const served = await t.post('/models/linear/constructor/predict', LINEAR_INPUT);
    expect(served.headers.get('x-model-version')).toBe('1');

    // A model with no table: nothing to remove, whatever Object.prototype has under that name.
    for (const model of ['toString', 'constructor', 'hasOwnProperty']) {
      expect(await getRoutes(t, model)).toEqual({});
      expect(json(await t.raw('DELETE', `/admin/routes/${model}`, undefined, auth))).toEqual({ model, removed: false });
      expect(json(await t.raw('DELETE', `/admin/routes/linear/${model === 'constructor' ? 'nosuch' : model.toLowerCase()}`, undefined, auth))).toMatchObject({ removed: false });
    }
    expect(await getRoutes(t)).toEqual({ constructor: '1', default: 'constructor' });
  });
});

it('reports a __proto__ alias written around the API (routes file, raw Redis) instead of dropping it', async () => {
  const file = await start(false);
  await file.writeRoutes(JSON.parse('{"linear": {"__proto__": "2", "default": "1"}}'));
  const t = await start(true);
  await testRedis().hset(`${t.redisPrefix}routes:linear`, '__proto__', '2', 'default', '1');
  for (const gateway of [file, t]) {
    // The alias is kept as written (so it can be seen and fixed) and never followed.
    await eventually(async () => Object.keys(await getRoutes(gateway)).length === 2, 5000, 'the table with two aliases');
    expect(Object.entries(await getRoutes(gateway))).toEqual([['__proto__', '2'], ['default', '1']]);
    const listed = json(await gateway.raw('GET', '/admin/routes', undefined, auth));
    expect(Object.entries(listed.linear)).toEqual([['__proto__', '2'], ['default', '1']]);
    expect((await gateway.post('/models/linear/predict', LINEAR_INPUT)).headers.get('x-model-version')).toBe('1');
    // ... and said: requests can never name it.
    await eventually(async () => {
      const warnings = ((await (await fetch(`${gateway.url}/readyz`)).json()) as { warnings?: string[] }).warnings ?? [];
      return warnings.some((warning) => warning.startsWith('routing: route "__proto__" of model "linear" is invalid'));
    }, 5000, 'the __proto__ alias reported on /readyz');
  }
  // The file written by JSON.stringify kept the key: nothing rewrote it.
  expect(await readFile(join(file.repo, 'routes.json'), 'utf8')).toContain('__proto__');
});


it('the CLI refuses a __proto__ alias and a dot-segment name instead of editing something else', async () => {
  const prefix = randomPrefix();
  const redis = testRedis(testRedisUrl());
  await redis.hset(`${prefix}routes:linear`, 'default', '1');
  const redisArgs = ['--redis', testRedisUrl(), '--prefix', prefix];
  const results = await Promise.all([
    cli(['routes', 'set', 'linear', '__proto__=2', ...redisArgs]),
    cli(['routes', 'set', 'linear', '{"__proto__": "2"}', ...redisArgs]),
    cli(['routes', 'split', 'linear', '__proto__', '1:50', '2:50', ...redisArgs]),
    cli(['routes', 'rm', 'linear', '..', ...redisArgs]),
    cli(['routes', 'set', '..', 'default=1', ...redisArgs]),
  ]);
  for (const result of results) {
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/not a valid (alias|model) name/);
  }
  expect(await redis.hgetall(`${prefix}routes:linear`)).toEqual({ default: '1' });
});
