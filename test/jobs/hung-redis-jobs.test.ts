/**
 * The job API while Redis is hung rather than dead: a private redis-server under SIGSTOP keeps
 * its sockets open and answers nothing, so every command sent to it waits, and runs once it gets
 * SIGCONT. Every job endpoint must answer a bounded 503 meanwhile; a submit must say whether its
 * job may exist (JOBS_OUTCOME_UNKNOWN: the write went out) or not (JOBS_UNAVAILABLE: nothing that
 * could queue it was sent), name the job id either way, and a retry with the same Idempotency-Key
 * after SIGCONT must be that job, run exactly once. Assertions are on status codes and counts.
 */
import { expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { finishedJob, jobCounts, readJob, submitJob, versionRequests, type JobBody } from '../support/jobs.js';
import { startPrivateRedis } from '../support/redis.js';
import type { OwnRedisServer } from '../support/redis-server.js';

/** A gateway (API and worker) on a private redis-server, with one job done so every connection is up. */
async function gatewayOnPrivateRedis(env: Record<string, string> = {}): Promise<{ redis: OwnRedisServer; gateway: TestGateway; doneId: string }> {
  const redis = await startPrivateRedis();
  const gateway = await startTestGateway({ redis: { url: redis.url }, env });
  const done = (await (await submitJob(gateway.url, 'linear', LINEAR_INPUT)).json()) as JobBody;
  expect((await finishedJob(gateway.url, done.job_id)).status).toBe('SUCCESS'); // a long-poll: the events connection too
  return { redis, gateway, doneId: done.job_id };
}

/** While `redis` is stopped, runs `during` and always resumes it. */
async function whileStopped<T>(redis: OwnRedisServer, during: () => Promise<T>): Promise<T> {
  redis.pause();
  try {
    return await during();
  } finally {
    redis.resume();
  }
}

it('answers every job endpoint with a bounded 503 while Redis is stopped, and serves them again after SIGCONT', async () => {
  const { redis, gateway, doneId } = await gatewayOnPrivateRedis();
  const answers = await whileStopped(redis, () =>
    Promise.all([
      submitJob(gateway.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'hung-submit' }),
      gateway.post('/models/linear/1/predict', LINEAR_INPUT, { prefer: 'respond-async', 'idempotency-key': 'hung-predict' }),
      fetch(`${gateway.url}/jobs`),
      fetch(`${gateway.url}/jobs/${doneId}`),
      fetch(`${gateway.url}/jobs/${doneId}?wait=30`),
      fetch(`${gateway.url}/jobs/${doneId}`, { method: 'DELETE' }),
    ]),
  );
  const submitted: string[] = [];
  for (const [index, response] of answers.entries()) {
    expect(response.status, `answer ${index}`).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    const { error } = (await response.json()) as { error: { code: string; details?: { job_id?: string } } };
    expect(['JOBS_UNAVAILABLE', 'JOBS_OUTCOME_UNKNOWN']).toContain(error.code);
    if (index < 2) submitted.push(error.details!.job_id!); // submits name the job they were about
  }

  // After SIGCONT the same requests work again; retries of the two submits are single jobs.
  await eventually(async () => (await fetch(`${gateway.url}/jobs`)).status === 200, 10_000, 'GET /jobs answering again');
  expect((await readJob(gateway.url, doneId)).body.status).toBe('SUCCESS');
  await expectError(fetch(`${gateway.url}/jobs/${doneId}`, { method: 'DELETE' }), 409, 'JOB_NOT_CANCELLABLE');
  const retried = [
    await submitJob(gateway.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'hung-submit' }),
    await gateway.post('/models/linear/1/predict', LINEAR_INPUT, { prefer: 'respond-async', 'idempotency-key': 'hung-predict' }),
  ];
  for (const [index, response] of retried.entries()) {
    expect(response.status).toBe(202);
    const id = ((await response.json()) as JobBody).job_id;
    expect(id).toBe(submitted[index]);
    expect((await finishedJob(gateway.url, id)).status).toBe('SUCCESS');
  }
  expect(await versionRequests(gateway.url, 'linear')).toBe(3);
  expect(await jobCounts(gateway.url)).toEqual({ pending: 0, processing: 0, succeeded: 3, failed: 0 });
});

it('a submit whose write hangs answers JOBS_OUTCOME_UNKNOWN with the job id; GET settles it, a keyed retry is that job, run once', async () => {
  // Without pending caps the job's write is the first thing a submit sends, so the hang is in it.
  const { redis, gateway } = await gatewayOnPrivateRedis({ JOB_MAX_PENDING: '0', JOB_MAX_PENDING_BYTES: '0' });
  const [keyed, unkeyed] = await whileStopped(redis, async () => {
    const answers = await Promise.all([
      submitJob(gateway.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'order-7' }),
      gateway.post('/models/linear/1/predict', LINEAR_INPUT, { prefer: 'respond-async' }),
    ]);
    const errors = [];
    for (const response of answers) {
      expect(response.headers.get('retry-after')).toBe('1');
      errors.push(await expectError(response, 503, 'JOBS_OUTCOME_UNKNOWN', /may or may not be queued.*GET \/jobs\//));
    }
    return errors.map((error) => (error.details as { job_id: string }).job_id);
  });

  // Redis got the writes when it woke up: both jobs exist and run, once each.
  for (const id of [keyed!, unkeyed!]) {
    await eventually(async () => (await readJob(gateway.url, id)).status === 200, 10_000, `job ${id} readable`);
    expect((await finishedJob(gateway.url, id)).status).toBe('SUCCESS');
  }
  const retry = await submitJob(gateway.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'order-7' });
  expect(retry.status).toBe(202);
  expect(retry.headers.get('idempotent-replayed')).toBe('true');
  expect(((await retry.json()) as JobBody)).toMatchObject({ job_id: keyed, status: 'SUCCESS' });
  expect(await versionRequests(gateway.url, 'linear')).toBe(3);
  expect(await jobCounts(gateway.url)).toEqual({ pending: 0, processing: 0, succeeded: 3, failed: 0 });
});

it('with the pending caps on, a submit that hangs before its write answers JOBS_UNAVAILABLE with the job id, and the job never exists', async () => {
  // The admission under the caps goes first: hung there, the job's write is never sent.
  const { redis, gateway } = await gatewayOnPrivateRedis();
  const error = await whileStopped(redis, () =>
    expectError(submitJob(gateway.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'order-8' }), 503, 'JOBS_UNAVAILABLE', 'nothing was queued'),
  );
  const id = (error.details as { job_id: string }).job_id;
  await eventually(async () => (await fetch(`${gateway.url}/jobs`)).status === 200, 10_000, 'Redis answering again');
  await expectError(fetch(`${gateway.url}/jobs/${id}`), 404, 'JOB_NOT_FOUND');
  const retry = await submitJob(gateway.url, 'linear', LINEAR_INPUT, { 'idempotency-key': 'order-8' });
  expect(retry.status).toBe(202);
  expect(retry.headers.get('idempotent-replayed')).toBeNull();
  expect(((await retry.json()) as JobBody).job_id).toBe(id);
  expect((await finishedJob(gateway.url, id)).status).toBe('SUCCESS');
  expect(await versionRequests(gateway.url, 'linear')).toBe(2);
  // The admission Redis ran on waking up and the retry's took no second place: once the job is
  // settled (just after it finished), none is left.
  const totals = () => gateway.gateway.jobs!.pendingTotals();
  await eventually(async () => (await totals()).jobs === 0, 10_000, async () => `no place left, saw ${JSON.stringify(await totals())}`);
  expect(await totals()).toEqual({ jobs: 0, bytes: 0 });
});
