/**
 * Async predictions over real HTTP, real Redis (a random prefix per test) and real sessions:
 * the job lifecycle, submit-time validation, failures with their reasons, idempotency keys,
 * cancellation, retention, worker-only replicas, shared batches with sync requests, and the
 * answers without Redis (501) or with a dead one (503).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, sleep, startTestGateway, type TestGateway } from '../support/gateway.js';
import { fixedRowsModel, linearModel, mlpModel, mlpRows, MLP_SIZES, type ModelSet } from '../support/models.js';
import { randomPrefix, startPrivateRedis, testRedis } from '../support/redis.js';
import type { JobBody } from '../support/jobs.js';


/** A gateway on the shared Redis under `prefix` (a new one unless given; its keys go when the test ends). */
async function gatewayWithJobs(options: { prefix?: string; env?: Record<string, string>; models?: ModelSet } = {}) {
  const prefix = options.prefix ?? randomPrefix();
  const gateway = await startTestGateway({ env: options.env ?? {}, redis: { prefix }, ...(options.models ? { models: options.models } : {}) });
  return { gateway, prefix };
}

function submitAsync(gateway: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return gateway.post(path, body, { prefer: 'respond-async', ...headers });
}

async function getJob(url: string, id: string, init: RequestInit = {}): Promise<{ status: number; body: JobBody; headers: Headers }> {
  const response = await fetch(`${url}/jobs/${id}`, init);
  return { status: response.status, body: (await response.json()) as JobBody, headers: response.headers };
}

/** Long-polls until the job has finished (or the test's timeout). */
async function finished(url: string, id: string): Promise<JobBody> {
  for (;;) {
    const { status, body } = await getJob(url, id, { headers: { prefer: 'wait=10' } });
    expect(status).toBe(200);
    if (body.status !== 'PENDING' && body.status !== 'PROCESSING') return body;
  }
}

async function counts(url: string): Promise<Record<string, number>> {
  return (await (await fetch(`${url}/jobs`)).json()) as Record<string, number>;
}

const MLP = mlpModel(MLP_SIZES.heavy);
const mlpBody = (rows: number) => ({ inputs: { input: mlpRows(rows) } });

describe('async predictions', () => {
  it('runs a job PENDING -> PROCESSING -> SUCCESS with the outputs of the sync answer', async () => {
    // An API-only replica (no worker): the job waits, visibly PENDING.
    const { gateway: api, prefix } = await gatewayWithJobs({ env: { JOB_CONCURRENCY: '0' }, models: { mlp: { 1: MLP } } });
    const body = mlpBody(256);
    const submitted = await submitAsync(api, '/models/mlp/1/predict', body);
    expect(submitted.status).toBe(202);
    const accepted = (await submitted.json()) as JobBody;
    expect(accepted).toMatchObject({ status: 'PENDING', model_name: 'mlp', model_version: '1' });
    expect(submitted.headers.get('location')).toBe(`/jobs/${accepted.job_id}`);
    expect(submitted.headers.get('preference-applied')).toBe('respond-async');
    const pending = await getJob(api.url, accepted.job_id);
    expect(pending.body).toMatchObject({ job_id: accepted.job_id, status: 'PENDING' });
    expect(pending.body.started_at).toBeUndefined();

    // A worker-only replica on the same Redis picks it up; it serves no API of its own.
    const { gateway: worker } = await gatewayWithJobs({ prefix, env: { SWITCHYARD_MODE: 'worker' }, models: { mlp: { 1: MLP } } });
    expect((await fetch(`${worker.url}/healthz`)).status).toBe(200);
    expect((await worker.post('/models/mlp/1/predict', body)).status).toBe(404);
    const seen: string[] = [];
    let last: JobBody;
    do {
      last = (await getJob(api.url, accepted.job_id)).body;
      if (seen.at(-1) !== last.status) seen.push(last.status);
      await sleep(5);
    } while (last.status === 'PENDING' || last.status === 'PROCESSING');
    expect(seen).toEqual(['PENDING', 'PROCESSING', 'SUCCESS'].slice(3 - seen.length));
    expect(seen).toContain('PROCESSING');
    expect(last.status).toBe('SUCCESS');
    expect(Date.parse(last.started_at!)).toBeGreaterThanOrEqual(Date.parse(last.created_at));
    expect(Date.parse(last.finished_at!)).toBeGreaterThanOrEqual(Date.parse(last.started_at!));

    const sync = (await (await api.post('/models/mlp/1/predict', body)).json()) as { outputs: { output: number[][] } };
    expect(last.outputs!['output']!.length).toBe(256);
    last.outputs!['output']!.forEach((row, r) => row.forEach((value, i) => expect(value).toBeCloseTo(sync.outputs.output[r]![i]!, 5)));
  });

  it('takes POST /jobs with model, version and outputs, and long-polls with Prefer: wait', async () => {
    const { gateway } = await gatewayWithJobs();
    const response = await gateway.post('/jobs', { model: 'linear', version: 1, ...LINEAR_INPUT, outputs: ['output'] });
    expect(response.status).toBe(202);
    const { job_id } = (await response.json()) as JobBody;
    const polled = await getJob(gateway.url, job_id, { headers: { prefer: 'wait=10' } });
    expect(polled.headers.get('preference-applied')).toBe('wait=10');
    expect(polled.body.status).toBe('SUCCESS');
    const sync = (await (await gateway.post('/models/linear/1/predict', LINEAR_INPUT)).json()) as { outputs: unknown };
    expect(polled.body.outputs).toEqual(sync.outputs);
    // The versionless form and an alias resolve at submit time and record the concrete version.
    const byAlias = (await (await gateway.post('/jobs', { model: 'linear', version: 'latest', ...LINEAR_INPUT })).json()) as JobBody;
    expect(byAlias.model_version).toBe('1');
    const versionless = await submitAsync(gateway, '/models/linear/predict', LINEAR_INPUT);
    expect(versionless.status).toBe(202);
    expect((await finished(gateway.url, ((await versionless.json()) as JobBody).job_id)).status).toBe('SUCCESS');
  });

  it('validates at submit: a bad request is answered at once and queues nothing', async () => {
    const { gateway } = await gatewayWithJobs({ env: { JOB_CONCURRENCY: '0' } });
    const cases: Array<[Promise<Response>, number, string]> = [
      [submitAsync(gateway, '/models/linear/1/predict', { inputs: { wrong: [[1, 2, 3, 4]] } }), 400, 'INVALID_INPUT'],
      [submitAsync(gateway, '/models/linear/1/predict', { inputs: { input: [[1, 2, 3]] } }), 400, 'INVALID_INPUT'],
      [submitAsync(gateway, '/models/linear/1/predict', '{"inputs": '), 400, 'INVALID_JSON'],
      [submitAsync(gateway, '/models/nope/predict', LINEAR_INPUT), 404, 'MODEL_NOT_FOUND'],
      [submitAsync(gateway, '/models/linear/9/predict', LINEAR_INPUT), 404, 'VERSION_NOT_FOUND'],
      [gateway.post('/jobs', LINEAR_INPUT), 400, 'INVALID_REQUEST'],
      [gateway.post('/jobs', { model: 'linear', version: [1], ...LINEAR_INPUT }), 400, 'INVALID_REQUEST'],
      [gateway.post('/jobs', { model: '../etc', ...LINEAR_INPUT }), 400, 'INVALID_MODEL_NAME'],
      [gateway.post('/jobs', { model: 'linear', inputs: { input: 'x' } }), 400, 'INVALID_INPUT'],
      [submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT, { 'idempotency-key': 'has space' }), 400, 'INVALID_REQUEST'],
    ];
    for (const [request, status, code] of cases) {
      const response = await request;
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect(await counts(gateway.url)).toEqual({ pending: 0, processing: 0, succeeded: 0, failed: 0 });
  });

  it('fails a job with the reason when onnxruntime fails, when the version is gone, or when the result is too large', async () => {
    const { gateway, prefix } = await gatewayWithJobs({
      env: { JOB_MAX_RESULT_BYTES: '64' },
      models: { odd: { 1: fixedRowsModel(4, 1) }, linear: { 1: linearModel() } },
    });
    const twoRows = { inputs: { input: [[1, 2, 3, 4], [5, 6, 7, 8]] } };
    expect((await gateway.post('/models/odd/1/predict', twoRows)).status).toBe(500); // the same failure, sync
    const modelError = (await (await submitAsync(gateway, '/models/odd/1/predict', twoRows)).json()) as JobBody;
    const failed = await finished(gateway.url, modelError.job_id);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatch(/^INFERENCE_FAILED: .*onnxruntime/i);
    expect(failed.outputs).toBeUndefined();

    // 2 rows x 2 outputs of linear fit in 64 bytes of JSON; 40 rows do not.
    const small = (await (await submitAsync(gateway, '/models/linear/1/predict', twoRows)).json()) as JobBody;
    expect((await finished(gateway.url, small.job_id)).status).toBe('SUCCESS');
    const rows = Array.from({ length: 40 }, () => [1, 2, 3, 4]);
    const large = (await (await submitAsync(gateway, '/models/linear/1/predict', { inputs: { input: rows } })).json()) as JobBody;
    const tooLarge = await finished(gateway.url, large.job_id);
    expect(tooLarge.status).toBe('FAILED');
    expect(tooLarge.error).toMatch(/RESULT_TOO_LARGE: .* more than the 64 bytes .*JOB_MAX_RESULT_BYTES/);

    // Version 2 exists where the job was submitted; the replica that runs it has no version 2.
    await gateway.writeLinear('linear', 2, 2);
    await eventually(async () => (await gateway.post('/models/linear/2/predict', LINEAR_INPUT)).status === 200, 10_000, 'version 2 served');
    await gateway.gateway.jobWorker!.close(); // this replica stops working jobs
    const gone = (await (await submitAsync(gateway, '/models/linear/2/predict', LINEAR_INPUT)).json()) as JobBody;
    expect(gone.model_version).toBe('2');
    const { gateway: other } = await gatewayWithJobs({ prefix });
    const goneResult = await finished(other.url, gone.job_id);
    expect(goneResult.status).toBe('FAILED');
    expect(goneResult.error).toBe("VERSION_NOT_FOUND: model 'linear' version 2, resolved when the job was submitted, is no longer in the repository");
    expect(await counts(gateway.url)).toEqual({ pending: 0, processing: 0, succeeded: 1, failed: 3 });
  });

  it('returns the existing job for a repeated Idempotency-Key, and refuses the key for another request', async () => {
    const { gateway } = await gatewayWithJobs({ env: { API_KEYS: 'alice-key,bob-key' } });
    const alice = { authorization: 'Bearer alice-key', 'idempotency-key': 'order-42' };
    const first = await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT, alice);
    expect(first.status).toBe(202);
    const job = (await first.json()) as JobBody;
    const again = await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT, alice);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const replayed = (await again.json()) as JobBody;
    expect(replayed.job_id).toBe(job.job_id);

    const different = await submitAsync(gateway, '/models/linear/1/predict', { inputs: { input: [[9, 9, 9, 9]] } }, alice);
    expect(different.status).toBe(409);
    expect(((await different.json()) as { error: { code: string } }).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // Another client's equal key is another job.
    const bob = await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT, { authorization: 'Bearer bob-key', 'idempotency-key': 'order-42' });
    expect(((await bob.json()) as JobBody).job_id).not.toBe(job.job_id);
    // /jobs is behind the API keys like the inference API, and a job is its submitter's only.
    expect((await fetch(`${gateway.url}/jobs/${job.job_id}`)).status).toBe(401);
    expect((await fetch(`${gateway.url}/jobs/${job.job_id}`, { headers: { authorization: 'Bearer bob-key' } })).status).toBe(404);
    expect((await fetch(`${gateway.url}/jobs/${job.job_id}`, { method: 'DELETE', headers: { authorization: 'Bearer bob-key' } })).status).toBe(404);
    const read = await getJob(gateway.url, job.job_id, { headers: { authorization: 'Bearer alice-key', prefer: 'wait=10' } });
    expect(read.body.status).toBe('SUCCESS');
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toContain('switchyard_jobs_submitted_total{model="linear"} 2');
  });

  it('cancels a job that has not started; it never runs, and finished or unknown jobs cannot be cancelled', async () => {
    const { gateway: api, prefix } = await gatewayWithJobs({ env: { JOB_CONCURRENCY: '0' } });
    const first = (await (await submitAsync(api, '/models/linear/1/predict', LINEAR_INPUT)).json()) as JobBody;
    const second = (await (await submitAsync(api, '/models/linear/1/predict', LINEAR_INPUT)).json()) as JobBody;
    const cancel = await fetch(`${api.url}/jobs/${first.job_id}`, { method: 'DELETE' });
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as JobBody).status).toBe('CANCELLED');
    expect((await getJob(api.url, first.job_id)).body).toMatchObject({ status: 'CANCELLED', error: 'cancelled before it started' });
    expect((await fetch(`${api.url}/jobs/${first.job_id}`, { method: 'DELETE' })).status).toBe(200); // idempotent

    const { gateway: worker } = await gatewayWithJobs({ prefix });
    expect((await finished(worker.url, second.job_id)).status).toBe('SUCCESS');
    expect((await getJob(api.url, first.job_id)).body.status).toBe('CANCELLED');
    expect(await counts(api.url)).toEqual({ pending: 0, processing: 0, succeeded: 1, failed: 0 });
    expect(await (await fetch(`${worker.url}/metrics`)).text()).toContain('switchyard_jobs_finished_total{model="linear",outcome="success"} 1');
    expect(await (await fetch(`${api.url}/metrics`)).text()).toContain('switchyard_jobs_finished_total{model="linear",outcome="cancelled"} 1');

    const late = await fetch(`${api.url}/jobs/${second.job_id}`, { method: 'DELETE' });
    expect(late.status).toBe(409);
    expect(((await late.json()) as { error: { code: string; details: unknown } }).error).toMatchObject({ code: 'JOB_NOT_CANCELLABLE', details: { status: 'SUCCESS' } });
    for (const id of ['no-such-job', 'bad:id']) {
      expect((await fetch(`${api.url}/jobs/${id}`, { method: 'DELETE' })).status).toBe(404);
      const unknown = await getJob(api.url, id);
      expect(unknown.status).toBe(404);
      expect((unknown.body as unknown as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
    }
  });

  it('forgets a finished job after JOB_RETENTION_SECONDS, in the API and in Redis', async () => {
    const { gateway, prefix } = await gatewayWithJobs({ env: { JOB_RETENTION_SECONDS: '1' } });
    const job = (await (await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT)).json()) as JobBody;
    expect((await finished(gateway.url, job.job_id)).status).toBe('SUCCESS');
    const redis = testRedis();
    const jobKey = `${prefix}jobs:predictions:${job.job_id}`;
    expect(await redis.exists(jobKey)).toBe(1);
    await sleep(1_300);
    expect((await getJob(gateway.url, job.job_id)).status).toBe(404);
    expect(await redis.exists(jobKey)).toBe(0);
  });

  it('batches async jobs with sync requests', async () => {
    const { gateway } = await gatewayWithJobs();
    await mkdir(join(gateway.repo, 'linear'), { recursive: true });
    await writeFile(join(gateway.repo, 'linear', 'config.json'), JSON.stringify({ max_batch_size: 8, max_queue_delay_ms: 1_000, preferred_batch_sizes: [2] }));
    await eventually(async () => {
      const model = (await (await fetch(`${gateway.url}/models/linear`)).json()) as { config: { max_queue_delay_ms?: number } };
      return model.config.max_queue_delay_ms === 1_000;
    }, 10_000, 'config applied');
    const stats = async () =>
      ((await (await fetch(`${gateway.url}/models/linear`)).json()) as { versions: Array<{ stats: { requests: number; executions: number } }> }).versions[0]!.stats;
    const before = await stats();
    // The sync request waits in the batcher (up to 1 s for a second row); the job's row joins it.
    const [sync, submitted] = await Promise.all([gateway.post('/models/linear/1/predict', LINEAR_INPUT), submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT)]);
    expect(sync.status).toBe(200);
    const job = await finished(gateway.url, ((await submitted.json()) as JobBody).job_id);
    expect(job.status).toBe('SUCCESS');
    expect(job.outputs).toEqual(((await sync.json()) as { outputs: unknown }).outputs);
    const after = await stats();
    expect(after.requests - before.requests).toBe(2);
    expect(after.executions - before.executions).toBe(1);
  });

  it('ends long-polls at shutdown so that they do not hold up the drain', async () => {
    const { gateway } = await gatewayWithJobs({ env: { JOB_CONCURRENCY: '0', DRAIN_TIMEOUT_MS: '5000' } });
    const job = (await (await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT)).json()) as JobBody;
    const polling = getJob(gateway.url, job.job_id, { headers: { prefer: 'wait=60' } });
    await eventually(() => gateway.gateway.gate.inFlight === 1, 5_000, 'the long-poll in flight');
    const report = await gateway.gateway.shutdown();
    expect(report).toEqual({ drained: true, abandoned: 0 });
    const answer = await polling;
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('PENDING'); // nobody worked it; it stays queued for other replicas
  });

  it('answers 501 without REDIS_URL, and never queues in memory', async () => {
    const gateway = await startTestGateway();
    const requests = [
      submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT),
      gateway.post('/jobs', { model: 'linear', ...LINEAR_INPUT }),
      fetch(`${gateway.url}/jobs`),
      fetch(`${gateway.url}/jobs/some-id`),
      fetch(`${gateway.url}/jobs/some-id`, { method: 'DELETE' }),
    ];
    for (const response of await Promise.all(requests)) {
      expect(response.status).toBe(501);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('ASYNC_UNAVAILABLE');
      expect(error.message).toContain('REDIS_URL');
    }
    expect((await gateway.post('/models/linear/1/predict', LINEAR_INPUT)).status).toBe(200);
  });

  it('answers 503 at submit while Redis is down, keeps serving sync requests, and recovers', async () => {
    const ownRedis = await startPrivateRedis();
    const gateway = await startTestGateway({ redis: { url: ownRedis.url } });
    const job = (await (await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT)).json()) as JobBody;
    expect((await finished(gateway.url, job.job_id)).status).toBe('SUCCESS');

    await ownRedis.kill();
    const refused = await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('JOBS_UNAVAILABLE');
    expect((await getJob(gateway.url, job.job_id)).status).toBe(503);
    expect((await gateway.post('/models/linear/1/predict', LINEAR_INPUT)).status).toBe(200);

    await ownRedis.restart(); // an empty server: the old job is gone with it, new ones work
    let accepted: JobBody | undefined;
    await eventually(async () => {
      const response = await submitAsync(gateway, '/models/linear/1/predict', LINEAR_INPUT);
      if (response.status === 202) accepted = (await response.json()) as JobBody;
      return response.status === 202;
    }, 20_000, 'submit accepted after the restart');
    expect((await finished(gateway.url, accepted!.job_id)).status).toBe('SUCCESS');
  });
});
