/**
 * The two job settings no other test sees at work: JOB_RETENTION_COUNT keeps at most that many
 * finished jobs per outcome (the oldest go first), and JOB_MAX_STALLED=0 fails a job the first
 * time a dead replica leaves it behind instead of queuing it again (the default, recovery, is
 * held by test/jobs/job-durability.test.ts). Real Redis under a random prefix, real sessions.
 */
import { expect, it } from 'vitest';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { startGatewayProcess } from '../support/gateway-process.js';
import { fixedRowsModel, linearModel, mlpModel, mlpRows } from '../support/models.js';

interface JobBody {
  readonly job_id: string;
  readonly status: string;
  readonly error?: string;
}

async function submit(url: string, model: string, rows: unknown): Promise<string> {
  const response = await fetch(`${url}/jobs`, { method: 'POST', body: JSON.stringify({ model, inputs: { input: rows } }) });
  expect(response.status).toBe(202);
  return ((await response.json()) as JobBody).job_id;
}

/** Long-polls the job until it has finished; its status and error. */
async function finished(url: string, id: string): Promise<JobBody> {
  for (;;) {
    const response = await fetch(`${url}/jobs/${id}?wait=10`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as JobBody;
    if (body.status !== 'PENDING' && body.status !== 'PROCESSING') return body;
  }
}

const readStatus = async (t: TestGateway, id: string) => (await fetch(`${t.url}/jobs/${id}`)).status;

it('JOB_RETENTION_COUNT: keeps the newest finished jobs of each outcome, up to the count', async () => {
  const t = await startTestGateway({
    redis: true,
    env: { JOB_RETENTION_COUNT: '2' },
    // fixed runs exactly one row: two rows fail in onnxruntime, so its job FAILS.
    models: { linear: { 1: linearModel(1) }, fixed: { 1: fixedRowsModel(4, 1) } },
  });
  const failed = await submit(t.url, 'fixed', [[1, 2, 3, 4], [5, 6, 7, 8]]);
  expect((await finished(t.url, failed)).status).toBe('FAILED');
  const succeeded: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = await submit(t.url, 'linear', [[1, 2, 3, i]]);
    expect((await finished(t.url, id)).status).toBe('SUCCESS');
    succeeded.push(id);
  }
  // Three successes with room for two: the first is gone; the failure counts apart and stays.
  expect(await Promise.all(succeeded.map((id) => readStatus(t, id)))).toEqual([404, 200, 200]);
  expect(await readStatus(t, failed)).toBe(200);
});

it('JOB_MAX_STALLED=0: a job its dead replica left behind fails instead of running again', async () => {
  const models = { mlp: { 1: mlpModel([256, 4096, 4096, 256]) } };
  const env = { RUNTIME_WORKERS: '1', JOB_CONCURRENCY: '1', JOB_LOCK_MS: '1000', JOB_STALLED_INTERVAL_MS: '500', JOB_MAX_STALLED: '0' };
  const first = await startGatewayProcess(env, { models, redis: true });
  // One heavy job (seconds on one thread), killed with its replica while it runs.
  const id = await submit(first.url, 'mlp', mlpRows(1024));
  await eventually(async () => ((await (await fetch(`${first.url}/jobs/${id}`)).json()) as JobBody).status === 'PROCESSING', 30_000, 'the job running');
  first.kill('SIGKILL');
  expect(await first.exited).toBeNull();

  // Another replica's stalled check finds the job once its lock has expired.
  const second = await startGatewayProcess(env, { models, redis: { prefix: first.redisPrefix! } });
  const job = await finished(second.url, id);
  expect({ status: job.status, error: job.error }).toMatchObject({ status: 'FAILED' });
  expect(job.error).toMatch(/stalled/);
});
