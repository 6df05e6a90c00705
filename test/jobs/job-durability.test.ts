/**
 * Durability across replicas, with real processes: two gateways share one Redis, jobs submitted
 * to one are worked by both, and SIGKILL on one while it holds jobs loses none of them (BullMQ's
 * stalled-job check in the other replica hands them on).
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { eventually } from '../support/gateway.js';
import { startGatewayProcess } from '../support/gateway-process.js';
import { mlpModel, MLP_SIZES } from '../support/models.js';
import { randomPrefix } from '../support/redis.js';
import { tempDir, writeRepository } from '../support/temp-dir.js';

async function finishedJobs(url: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith('switchyard_jobs_finished_total{model="mlp",outcome="success"}'));
  return line ? Number(line.split(' ').pop()) : 0;
}

it('loses no job when a replica is SIGKILLed while it holds jobs; both replicas work jobs submitted to one', async () => {
  const dir = await tempDir('jobs');
  const repo = dir.path;
  const prefix = randomPrefix();
  // Small bodies (quick to submit) but heavy compute (each job runs for a while, one job per
  // batch), so that all jobs are queued long before they are done.
  await writeRepository(repo, { mlp: { 1: mlpModel(MLP_SIZES.heaviest) } });
  await dir.write('mlp/config.json', JSON.stringify({ max_batch_size: 64 }));
  const env = {
    MODEL_REPO: repo,
    ROUTES_FILE: join(repo, 'routes.json'),
    RUNTIME_WORKERS: '1',
    JOB_CONCURRENCY: '2',
    // A dead replica's jobs go back to the queue after 1 s (30 s by default).
    JOB_LOCK_MS: '1000',
    JOB_STALLED_INTERVAL_MS: '500',
  };
  const [a, b] = await Promise.all([startGatewayProcess(env, { redis: { prefix } }), startGatewayProcess(env, { redis: { prefix } })]);

  const rows = Array.from({ length: 64 }, (_, r) => Array.from({ length: 256 }, (_, i) => ((i * 7 + r) % 11) / 11 - 0.5));
  const body = JSON.stringify({ model: 'mlp', inputs: { input: rows } });
  const ids = await Promise.all(
    Array.from({ length: 40 }, async () => {
      const response = await fetch(a!.url + '/jobs', { method: 'POST', body });
      expect(response.status).toBe(202);
      return ((await response.json()) as { job_id: string }).job_id;
    }),
  );

  // Kill A while more jobs run than B alone can hold (2), so A holds some, and more wait.
  let before = { b: 0, processing: 0, pending: 0 };
  await eventually(async () => {
    const counts = (await (await fetch(b!.url + '/jobs')).json()) as { processing: number; pending: number };
    before = { b: await finishedJobs(b!.url), ...counts };
    return before.processing >= 3 && before.pending >= 1;
  }, 60_000, 'both replicas working jobs, with A holding some').catch((error: Error) => {
    throw new Error(`${error.message}; last seen ${JSON.stringify(before)}\nA: ${a!.log().slice(-2000)}\nB: ${b!.log().slice(-2000)}`);
  });
  a!.kill('SIGKILL');
  expect(await a!.exited).toBeNull();

  const results: Array<{ status: string; rows: number }> = [];
  for (const id of ids) {
    let body: { status: string; outputs?: { output: number[][] }; error?: string };
    do {
      body = (await (await fetch(`${b!.url}/jobs/${id}?wait=20`)).json()) as typeof body;
    } while (body.status === 'PENDING' || body.status === 'PROCESSING');
    results.push({ status: body.status, rows: body.outputs?.output.length ?? 0 });
  }
  expect(results).toEqual(ids.map(() => ({ status: 'SUCCESS', rows: 64 })));
  // Both worked jobs submitted to A: A's held jobs were recovered by B from their expired locks,
  // and B finished jobs of its own.
  expect(b!.log()).toContain('"event":"job-stalled"');
  expect(await finishedJobs(b!.url)).toBeGreaterThan(before.b);
  const sync = (await (await fetch(`${b!.url}/models/mlp/1/predict`, { method: 'POST', body: JSON.stringify({ inputs: { input: rows } }) })).json()) as {
    outputs: { output: number[][] };
  };
  const last = (await (await fetch(`${b!.url}/jobs/${ids.at(-1)}`)).json()) as { outputs: { output: number[][] } };
  expect(last.outputs.output[5]![7]).toBeCloseTo(sync.outputs.output[5]![7]!, 5);
}, 120_000);
