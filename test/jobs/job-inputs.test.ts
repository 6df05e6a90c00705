/**
 * A job's input lives in Redis only while the job is unfinished: once it succeeded or failed, the
 * request body is dropped from the job's hash (result or error, times and idempotency fingerprint
 * stay for the retention time), and its place under the pending caps is given back. Inspected in
 * the real Redis under the gateway's random prefix.
 */
import { expect, it } from 'vitest';
import { eventually, startTestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { finishedJob, submitJob, type JobBody } from '../support/jobs.js';
import { fixedRowsModel, linearAnswer, linearModel } from '../support/models.js';
import { testRedis } from '../support/redis.js';

// 2,000 rows: an input of about 20 kB, far more than anything else the job keeps.
const ROWS = Array.from({ length: 2000 }, (_, r) => [r % 5, 1, 2, 3]);
const INPUT_BYTES = JSON.stringify({ inputs: { input: ROWS } }).length;

it('drops the input of a job that succeeded or failed, keeps its result or error, and frees its place', async () => {
  const gateway = await startTestGateway({ redis: true, models: { linear: { 1: linearModel(1) }, one_row: { 1: fixedRowsModel(4, 1) } } });
  const redis = testRedis();
  const base = `${gateway.redisPrefix}jobs:predictions:`;
  const stored = async (id: string) => ({
    data: JSON.parse((await redis.hget(base + id, 'data'))!) as Record<string, unknown>,
    dataBytes: await redis.hstrlen(base + id, 'data'),
  });

  const keyed = { 'idempotency-key': 'big-order' };
  const succeeded = (await (await submitJob(gateway.url, 'linear', { inputs: { input: ROWS } }, keyed)).json()) as JobBody;
  // one_row runs on exactly one row: two rows fail in onnxruntime.
  const failed = (await (await submitJob(gateway.url, 'one_row', { inputs: { input: ROWS } })).json()) as JobBody;

  const success = await finishedJob(gateway.url, succeeded.job_id);
  expect(success.status).toBe('SUCCESS');
  expect(success.outputs!['output']).toEqual(linearAnswer(1, ROWS));
  const failure = await finishedJob(gateway.url, failed.job_id);
  expect(failure.status).toBe('FAILED');
  expect(failure.error).toMatch(/^INFERENCE_FAILED: /);

  for (const id of [succeeded.job_id, failed.job_id]) {
    await eventually(async () => (await stored(id)).data['payload'] === undefined, 10_000, `the input of job ${id} dropped`);
    const { data, dataBytes } = await stored(id);
    expect(dataBytes).toBeLessThan(INPUT_BYTES / 20);
    expect(Object.keys(data).sort()).toEqual(['fingerprint', 'model', 'requestId', 'submission', 'version']);
  }
  expect(await redis.hget(base + succeeded.job_id, 'returnvalue')).toContain('output');
  expect(await redis.hget(base + failed.job_id, 'failedReason')).toMatch(/^INFERENCE_FAILED: /);
  // Their places under the pending caps are free again.
  expect(await redis.hlen(`${base}pending:jobs`)).toBe(0);
  expect(await redis.exists(`${base}pending:bytes`)).toBe(0);

  // Still readable as before, and the Idempotency-Key still knows what it was used for.
  expect((await finishedJob(gateway.url, succeeded.job_id)).outputs).toEqual(success.outputs);
  const replay = await submitJob(gateway.url, 'linear', { inputs: { input: ROWS } }, keyed);
  expect(replay.status).toBe(202);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(((await replay.json()) as JobBody).job_id).toBe(succeeded.job_id);
  await expectError(submitJob(gateway.url, 'linear', { inputs: { input: ROWS.slice(1) } }, keyed), 409, 'IDEMPOTENCY_KEY_REUSED');
});
