/**
 * A job whose inference is running when its replica gets SIGTERM, with real processes: the README
 * promises the replica stops taking jobs and finishes the ones it runs within DRAIN_TIMEOUT_MS,
 * and past it leaves them to another replica. Either way the job is not lost, it ends SUCCESS,
 * and the stopping process exits 0 (no abort from onnxruntime while it still runs).
 */
import { expect, it } from 'vitest';
import { eventually, startTestGateway } from '../support/gateway.js';
import { startGatewayProcess } from '../support/gateway-process.js';
import { finishedJob, readJob, submitJob, versionRequests, type JobBody } from '../support/jobs.js';
import { mlpRows } from '../support/models.js';
import { randomPrefix, testRedis } from '../support/redis.js';
import { GraphBuilder, seededRandom } from '../../tools/model-builder/index.js';

/**
 * [-1, 256] -> 1,500 times (MatMul by one shared 256x256 matrix, Tanh) -> [-1, 4]: 100 M
 * multiply-adds a row from a 270 kB file, so a request of a thousand rows is one run of seconds.
 */
function slowModel(): Uint8Array {
  const random = seededRandom(7);
  const graph = new GraphBuilder({ name: 'slow' }).input('input', 'FP32', [-1, 256]).output('output', 'FP32', [-1, 4]);
  graph.initializer('W', 'FP32', [256, 256], Float32Array.from({ length: 256 * 256 }, () => (random() * 2 - 1) * 0.1));
  graph.initializer('P', 'FP32', [256, 4], Float32Array.from({ length: 256 * 4 }, () => (random() * 2 - 1) * 0.1));
  let current = 'input';
  for (let i = 0; i < 1500; i++) {
    graph.node('MatMul', [current, 'W'], [`m${i}`]).node('Tanh', [`m${i}`], [`t${i}`]);
    current = `t${i}`;
  }
  graph.node('MatMul', [current, 'P'], ['output']);
  return graph.build();
}

const MODELS = { slow: { 1: slowModel() } };
// One request of many rows: one long run inside onnxruntime (seconds on one thread).
const HEAVY_JOB = { inputs: { input: mlpRows(1024) } };
// Inference threads at the process's priority: on a loaded machine a nice thread's run stretches far more.
const WORKER_ENV = { RUNTIME_WORKERS: '1', RUNTIME_WORKER_NICE: '0', JOB_CONCURRENCY: '1' };

/** Submits the heavy job to `url` and waits until the replica at `workerUrl` runs its inference. */
async function heavyJobRunning(url: string, workerUrl: string): Promise<string> {
  const response = await submitJob(url, 'slow', HEAVY_JOB);
  expect(response.status).toBe(202);
  const { job_id } = (await response.json()) as JobBody;
  await eventually(async () => (await versionRequests(workerUrl, 'slow')) >= 1, 30_000, 'the job inside the scheduler of its replica');
  expect((await readJob(url, job_id)).body.status).toBe('PROCESSING');
  return job_id;
}

it('finishes a job running at SIGTERM before the replica exits 0', async () => {
  const prefix = randomPrefix();
  // Reads the job while the worker stops; it works no jobs itself.
  const api = await startTestGateway({ models: MODELS, redis: { prefix }, env: { JOB_CONCURRENCY: '0' } });
  const worker = await startGatewayProcess({ ...WORKER_ENV, DRAIN_TIMEOUT_MS: '60000' }, { models: MODELS, redis: { prefix } });
  const id = await heavyJobRunning(api.url, worker.url);

  worker.kill('SIGTERM');
  expect(await worker.exited).toBe(0);
  expect(worker.log()).toContain('"drained":true');
  // Finished by the replica that stopped: nobody else works jobs, and it is done already.
  const job = (await readJob(api.url, id)).body;
  expect(job.status).toBe('SUCCESS');
  expect(job.outputs?.['output']?.length).toBe(1024);
});

it('past DRAIN_TIMEOUT_MS hands a running job back; another replica completes it, and the stopping one exits 0 (no abort)', async () => {
  const prefix = randomPrefix();
  // Locks of 30 s (the default): a job left to expire would wait that long; one handed back does not.
  const env = WORKER_ENV;
  const first = await startGatewayProcess({ ...env, DRAIN_TIMEOUT_MS: '200' }, { models: MODELS, redis: { prefix } });
  const id = await heavyJobRunning(first.url, first.url);
  // A second replica joins once the first holds the job.
  const second = await startTestGateway({ models: MODELS, redis: { prefix }, env });

  first.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  expect(first.log()).toContain('shutdown: drain timeout reached');
  expect(first.log()).toContain('"event":"job-handed-back"');
  const job = await finishedJob(second.url, id);
  expect(job.status).toBe('SUCCESS');
  expect(job.outputs?.['output']?.length).toBe(1024);
  expect(await versionRequests(second.url, 'slow')).toBe(1);
  // Handed back, not recovered from an expired lock: BullMQ's stalled-job check never counted it.
  expect(await testRedis().hget(`${prefix}jobs:predictions:${id}`, 'stc')).toBeNull();
}, 120_000);
