/**
 * Route edits against a Redis that hangs, on a private redis-server: an edit that failed is not
 * applied later when Redis wakes up, an edit whose answer never came is settled by the time the
 * client hears ROUTES_OUTCOME_UNKNOWN (a read tells which, and it does not change afterwards),
 * and an Idempotency-Key makes every retry safe. Through the admin API over real HTTP.
 */
import { beforeEach, expect, it } from 'vitest';
import { consistently, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError, json } from '../support/http.js';
import { linearVersions } from '../support/models.js';
import type { OwnRedisServer } from '../support/redis-server.js';
import { startPrivateRedis, testRedis } from '../support/redis.js';

const TOKEN = 'edit-outcome-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

let server: OwnRedisServer;
let t: TestGateway;

beforeEach(async () => {
  server = await startPrivateRedis();
  t = await startTestGateway({ models: { linear: linearVersions(1, 2) }, env: { ADMIN_TOKEN: TOKEN }, redis: { url: server.url } });
});

const put = (body: unknown, headers: Record<string, string> = {}) =>
  t.raw('PUT', '/admin/routes/linear', JSON.stringify(body), { ...auth, ...headers });
const del = (path: string, headers: Record<string, string> = {}) => t.raw('DELETE', path, undefined, { ...auth, ...headers });

/** The table as Redis has it, read on a connection of its own. */
const stored = () => testRedis(server.url).hgetall(`${t.redisPrefix}routes:linear`);

it('does not apply an edit refused while Redis was stopped once Redis runs again', async () => {
  expect((await put({ default: '1' })).status).toBe(200);

  server.pause();
  let refused;
  try {
    refused = await put({ default: '2' });
  } finally {
    server.resume();
  }
  // Redis now runs whatever was waiting on its sockets: the refused edit must not be among it.
  await consistently(async () => JSON.stringify(await stored()) === '{"default":"1"}', 1000, 'the table before the refused edit');
  expect(json(await t.raw('GET', '/admin/routes/linear', undefined, auth))).toEqual({ default: '1' });
  const error = await expectError(refused, 503, 'ROUTING_UNAVAILABLE', 'nothing was written');
  expect(error.message).toContain('"linear"');
});

it('settles an edit whose answer never came: ROUTES_OUTCOME_UNKNOWN, and a late Redis refuses it', async () => {
  expect((await put({ default: '1' })).status).toBe(200);
  // Writes (scripts included) wait while reads, TIME among them, still answer: the edit is sent
  // and then hangs, which is the case a client can not tell apart from "applied, answer lost".
  await testRedis(server.url).call('CLIENT', 'PAUSE', '1500', 'WRITE');
  const unanswered = await put({ default: '2' }, { 'idempotency-key': 'edit-1' });

  // The pause ends and Redis runs the script: past its deadline, it changes nothing, then or later.
  await consistently(async () => JSON.stringify(await stored()) === '{"default":"1"}', 2500, 'the table before the unanswered edit');
  const error = await expectError(unanswered, 503, 'ROUTES_OUTCOME_UNKNOWN', 'may or may not have been applied');
  expect(error.details).toMatchObject({ model: 'linear', check: 'GET /admin/routes/linear' });

  // Retrying with the same key is safe: the first attempt did nothing, so this one applies.
  const retried = await put({ default: '2' }, { 'idempotency-key': 'edit-1' });
  expect(retried.status, retried.body.toString()).toBe(200);
  expect(retried.headers['idempotent-replayed']).toBeUndefined();
  expect(await stored()).toEqual({ default: '2' });
});

it('replays a repeated Idempotency-Key instead of editing again, and refuses it for another edit', async () => {
  expect((await put({ default: '1', canary: '2' })).status).toBe(200);

  server.pause();
  try {
    await expectError(put({ default: '2' }, { 'idempotency-key': 'rollout-7' }), 503, 'ROUTING_UNAVAILABLE');
  } finally {
    server.resume();
  }
  const first = await put({ default: '2' }, { 'idempotency-key': 'rollout-7' });
  expect(first.status).toBe(200);
  expect(first.headers['idempotent-replayed']).toBeUndefined();

  // Someone else edits meanwhile; a late retry of rollout-7 must not put its table back over it.
  expect((await put({ default: '1' })).status).toBe(200);
  const replay = await put({ default: '2' }, { 'idempotency-key': 'rollout-7' });
  expect(replay.status).toBe(200);
  expect(replay.headers['idempotent-replayed']).toBe('true');
  expect(json(replay)).toEqual({ default: '2' });
  expect(await stored()).toEqual({ default: '1' });

  await expectError(put({ default: '1', canary: '2' }, { 'idempotency-key': 'rollout-7' }), 409, 'IDEMPOTENCY_KEY_REUSED', 'rollout-7');
  await expectError(put({ default: '1' }, { 'idempotency-key': 'with space' }), 400, 'INVALID_REQUEST', 'Idempotency-Key');

  // A delete repeated with its key reports what the first one did.
  expect((await put({ default: '1', canary: '2' })).status).toBe(200);
  const removed = await del('/admin/routes/linear/canary', { 'idempotency-key': 'rm-canary' });
  const again = await del('/admin/routes/linear/canary', { 'idempotency-key': 'rm-canary' });
  expect([json(removed), removed.headers['idempotent-replayed']]).toEqual([{ model: 'linear', alias: 'canary', removed: true }, undefined]);
  expect([json(again), again.headers['idempotent-replayed']]).toEqual([{ model: 'linear', alias: 'canary', removed: true }, 'true']);
  expect(json(await del('/admin/routes/linear/canary'))).toEqual({ model: 'linear', alias: 'canary', removed: false });
});
