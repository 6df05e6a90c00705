/**
 * The caps on unfinished jobs, with no worker running so that jobs stay pending: past
 * JOB_MAX_PENDING jobs or JOB_MAX_PENDING_BYTES bytes of input a submit is refused with 503
 * JOBS_FULL (Retry-After) and nothing is queued; the count is one ledger in Redis for every
 * replica, taken atomically; a cancel or a finished job gives its place back, and a place held by
 * a job that no longer exists is given back by reconciling.
 */
import { expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { finishedJob, jobCounts, submitJob, type JobBody } from '../support/jobs.js';
import { randomPrefix, testRedis } from '../support/redis.js';

const ROW = [1, 2, 3, 4];
const rows = (count: number) => ({ inputs: { input: Array.from({ length: count }, () => ROW) } });

it('refuses submissions past JOB_MAX_PENDING on every replica at once, and takes them again once jobs finish', async () => {
  const prefix = randomPrefix();
  const env = { JOB_CONCURRENCY: '0', JOB_MAX_PENDING: '5' };
  const [a, b] = await Promise.all([startTestGateway({ redis: { prefix }, env }), startTestGateway({ redis: { prefix }, env })]);

  // Twelve at once, half on each replica (POST /jobs and Prefer: respond-async): exactly five get in.
  const answers = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      i % 2 === 0 ? submitJob(a.url, 'linear', LINEAR_INPUT) : b.post('/models/linear/1/predict', LINEAR_INPUT, { prefer: 'respond-async' }),
    ),
  );
  const statuses = answers.map((response) => response.status);
  expect(statuses.filter((status) => status === 202)).toHaveLength(5);
  expect(statuses.filter((status) => status === 503)).toHaveLength(7);
  for (const response of answers.filter((r) => r.status === 503)) {
    expect(response.headers.get('retry-after')).toBe('5');
    const error = await expectError(response, 503, 'JOBS_FULL', '5 jobs are unfinished, as many as JOB_MAX_PENDING (5) allows');
    expect(error.details).toMatchObject({ pending_jobs: 5, max_pending: 5 });
  }
  const accepted = await Promise.all(answers.filter((r) => r.status === 202).map(async (r) => ((await r.json()) as JobBody).job_id));
  expect(await jobCounts(a.url)).toEqual({ pending: 5, processing: 0, succeeded: 0, failed: 0 });

  // A cancel gives its place back: one more gets in, the next does not.
  expect((await fetch(`${b.url}/jobs/${accepted[0]}`, { method: 'DELETE' })).status).toBe(200);
  const replacement = await submitJob(b.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'after-cancel' });
  expect(replacement.status).toBe(202);
  const replacementId = ((await replacement.json()) as JobBody).job_id;
  await expectError(submitJob(a.url, 'linear', LINEAR_INPUT), 503, 'JOBS_FULL');
  // A retry of a queued keyed job is not a new job: answered even while full.
  const replay = await submitJob(a.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'after-cancel' });
  expect(replay.status).toBe(202);
  expect(((await replay.json()) as JobBody).job_id).toBe(replacementId);

  // A worker replica drains the queue; every finished job frees its place.
  const worker = await startTestGateway({ redis: { prefix }, env: { JOB_MAX_PENDING: '5' } });
  for (const id of [...accepted.slice(1), replacementId]) expect((await finishedJob(worker.url, id)).status).toBe('SUCCESS');
  const redis = testRedis();
  const ledger = `${prefix}jobs:predictions:pending:jobs`;
  // The worker settles a job just after BullMQ marks it finished: a reader may see SUCCESS first.
  await eventually(async () => (await redis.hlen(ledger)) === 0, 10_000, 'every finished job gave its place back');
  const again = await Promise.all(Array.from({ length: 5 }, () => submitJob(a.url, 'linear', LINEAR_INPUT)));
  expect(again.map((response) => response.status)).toEqual([202, 202, 202, 202, 202]);
  for (const response of again) expect((await finishedJob(a.url, ((await response.json()) as JobBody).job_id)).status).toBe('SUCCESS');
  await eventually(async () => (await redis.hlen(ledger)) === 0, 10_000, 'every place given back again');
});

it('refuses a submission whose input would pass JOB_MAX_PENDING_BYTES, and takes one that fits', async () => {
  const payloadBytes = (count: number) => JSON.stringify(rows(count)).length;
  const limit = Math.floor(payloadBytes(100) * 2.5);
  const gateway = await startTestGateway({ redis: true, env: { JOB_CONCURRENCY: '0', JOB_MAX_PENDING_BYTES: String(limit) } });
  expect((await submitJob(gateway.url, 'linear', rows(100))).status).toBe(202);
  expect((await submitJob(gateway.url, 'linear', rows(100))).status).toBe(202);
  const refused = await submitJob(gateway.url, 'linear', rows(100));
  expect(refused.headers.get('retry-after')).toBe('5');
  const error = await expectError(refused, 503, 'JOBS_FULL', `would pass JOB_MAX_PENDING_BYTES (${limit})`);
  expect(error.details).toMatchObject({ pending_jobs: 2, pending_bytes: 2 * payloadBytes(100), max_pending_bytes: limit });
  expect((await submitJob(gateway.url, 'linear', rows(10))).status).toBe(202);
  expect((await jobCounts(gateway.url)).pending).toBe(3);
});

it('gives back a place whose job no longer exists (a replica that died before settling it)', async () => {
  const gateway = await startTestGateway({ redis: true, env: { JOB_CONCURRENCY: '0', JOB_MAX_PENDING: '1' } });
  const redis = testRedis();
  const ledger = `${gateway.redisPrefix}jobs:predictions:pending:jobs`;
  // What such a replica leaves: a place taken long ago (100 bytes at epoch 0) for a job that is gone.
  await redis.hset(ledger, 'lost-job', '100:0');
  await redis.set(`${gateway.redisPrefix}jobs:predictions:pending:bytes`, '100');
  await expectError(submitJob(gateway.url, 'linear', LINEAR_INPUT), 503, 'JOBS_FULL');
  // The refusal reconciled the ledger: the lost place is free, and a submit gets it.
  let id: string | undefined;
  await eventually(async () => {
    const response = await submitJob(gateway.url, 'linear', LINEAR_INPUT);
    if (response.status === 202) id = ((await response.json()) as JobBody).job_id;
    else await expectError(response, 503, 'JOBS_FULL');
    return id !== undefined;
  }, 20_000, 'a submit accepted once the lost place was given back');
  expect(await redis.hkeys(ledger)).toEqual([id]);
});
