/**
 * Async predictions benchmark (issue: async predictions on BullMQ) on the MLP 256->1024->1024->256,
 * set up as in the throughput scenario (MLP_CONFIG, RUNTIME_WORKERS=2), Redis at 127.0.0.1:6379:
 * - sync: autocannon at 64 connections on POST /models/mlp/1/predict (req/s, p99), one gateway;
 * - async, same gateway: 64 client loops, each submitting the same body with
 *   `Prefer: respond-async`, then long-polling `GET /jobs/<id>` with `Prefer: wait=30` until the
 *   job is SUCCESS; measured are jobs completed per second and the submit->SUCCESS time on the
 *   client's clock (from just before the POST to the SUCCESS answer). Anything but SUCCESS fails.
 * - async, split: the same load on an API replica that works no jobs (JOB_CONCURRENCY=0) plus a
 *   worker-only replica (SWITCHYARD_MODE=worker), on the same machine (report only);
 * - the queue's own ceiling: BullMQ alone in one process, no HTTP and no inference, the same
 *   closed loops and data sizes (report only). On the CI machine it is ~7,000 jobs/s, about half
 *   the sync req/s: the queue alone sits at the target, before any HTTP or inference is added.
 * Target: async jobs/s ÷ sync req/s >= 0.5 (the one-process figure). Reported: p50/p99
 * submit->SUCCESS, p99 ÷ sync p99, the batching of the async phase and GET /jobs at the end.
 *
 * JOB_CONCURRENCY is set explicitly to 32 (the default): with 64 client loops, 32 gave ~1,900
 * jobs/s (average batch ~10), 64 ~1,575 (batch ~17), 128 no more. What bounds it is CPU per
 * job, not jobs in flight: per job the gateway serves two HTTP requests and makes ~3 BullMQ
 * script calls (add, moveToActive, moveToFinished), 2 job reads and reads ~4 stream events,
 * with the 2.5 kB body and the output crossing the Redis socket several times; its main thread
 * is saturated (profile: ~23 % socket writes, ~10 % each BullMQ and ioredis, 7 % GC), on two
 * cores shared with Redis and this load generator.
 * The client is plain node:http over one keep-alive agent (no JSON decoding: the job id comes
 * from the Location header, the status from the head of the answer), since the load generator
 * shares the machine's cores with the gateway. The run's Redis keys (a random REDIS_PREFIX) are
 * deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { formatLoad, runLoad } from '../support/load.js';
import { createBenchRepo, mlpBody } from '../support/model-repo-fixture.js';
import { startGatewayProcess } from '../support/server-process.js';
import type { ScenarioReport } from './core-gateway.js';
import { MLP_CONFIG } from './throughput.js';

const CONNECTIONS = 64;
const REDIS_URL = 'redis://127.0.0.1:6379';
/** Jobs the gateway's worker runs at once (JOB_CONCURRENCY; see the header for 32 vs 64). */
const JOB_CONCURRENCY = 32;
/** Seconds each `GET /jobs/<id>` may wait for the job to finish. */
const WAIT_SECONDS = 30;

interface AsyncLoadResult {
  readonly jobs: number;
  readonly jobsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** Jobs that did not end in SUCCESS (non-2xx answers, FAILED/CANCELLED, network errors). */
  readonly failures: number;
  /** GET /jobs/<id> requests per completed job (1 = every first long-poll saw the result). */
  readonly pollsPerJob: number;
}

interface HttpAnswer {
  readonly status: number;
  readonly location: string | undefined;
  readonly head: string;
}

/** Submit -> SUCCESS loops on `connections` keep-alive sockets for `durationSeconds`. */
async function runAsyncLoad(baseUrl: string, path: string, body: string, connections: number, durationSeconds: number): Promise<AsyncLoadResult> {
  const target = new URL(baseUrl);
  const payload = Buffer.from(body);
  const agent = new Agent({ keepAlive: true, maxSockets: 2 * connections });
  const postHeaders = { 'content-type': 'application/json', 'content-length': String(payload.length), prefer: 'respond-async' };
  const getHeaders = { prefer: `wait=${WAIT_SECONDS}` };

  /** One request; keeps only the first bytes of the answer (enough for `"status":"..."`). */
  const send = (method: 'GET' | 'POST', requestPath: string): Promise<HttpAnswer> =>
    new Promise((resolve, reject) => {
      const req = request(
        { hostname: target.hostname, port: target.port, path: requestPath, method, headers: method === 'POST' ? postHeaders : getHeaders, agent },
        (res) => {
          let head = '';
          res.setEncoding('latin1');
          res.on('data', (chunk: string) => {
            if (head.length < 256) head += chunk.slice(0, 256);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, head }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(method === 'POST' ? payload : undefined);
    });

  const statusOf = (head: string): string => {
    const at = head.indexOf('"status":"');
    return at < 0 ? '' : head.slice(at + 10, head.indexOf('"', at + 10));
  };

  const latencies: number[] = [];
  let failures = 0;
  let polls = 0;
  /** Resolves true once the job answered SUCCESS. */
  const once = async (): Promise<boolean> => {
    const submitted = await send('POST', path);
    if (submitted.status !== 202 || !submitted.location) return false;
    for (;;) {
      polls++;
      const answer = await send('GET', submitted.location);
      if (answer.status !== 200) return false;
      const status = statusOf(answer.head);
      if (status === 'SUCCESS') return true;
      if (status !== 'PENDING' && status !== 'PROCESSING') return false;
    }
  };

  const started = performance.now();
  const end = started + durationSeconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        const ok = await once().catch(() => false);
        if (ok) latencies.push(performance.now() - start);
        else failures++;
      }
    }),
  );
  const elapsedSeconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0);
  return {
    jobs: latencies.length,
    jobsPerSecond: latencies.length / elapsedSeconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    meanMs: Math.round((latencies.reduce((sum, ms) => sum + ms, 0) / Math.max(latencies.length, 1)) * 100) / 100,
    failures,
    pollsPerJob: polls / Math.max(latencies.length + failures, 1),
  };
}

/** Deletes every key under `prefix` (SCAN + UNLINK). */
export async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/**
 * The ceiling of the queue itself on this machine: BullMQ alone in this process (no HTTP, no
 * inference), 64 closed loops of add -> waitUntilFinished, a worker at JOB_CONCURRENCY returning
 * a fixed output; job data and output of the same sizes as the gateway's.
 */
async function measureBullmqCeiling(body: string, durationSeconds: number): Promise<number> {
  const prefix = `switchyard-bench:${randomBytes(6).toString('hex')}:ceiling`;
  // Connections passed as instances stay ours to close (BullMQ's close leaves them open).
  const connections = [1, null, null].map((maxRetriesPerRequest) => new Redis(REDIS_URL, { maxRetriesPerRequest }));
  const queue = new Queue('predictions', { connection: connections[0]!, prefix });
  const events = new QueueEvents('predictions', { connection: connections[1]!, prefix });
  events.setMaxListeners(0);
  await events.waitUntilReady();
  const output = JSON.stringify({ output: [Array.from({ length: 256 }, (_, i) => i / 3)] });
  const worker = new Worker('predictions', async () => output, {
    connection: connections[2]!,
    prefix,
    concurrency: JOB_CONCURRENCY,
  });
  const retention = { age: 86_400, count: 100_000 };
  const loop = async (seconds: number): Promise<number> => {
    let done = 0;
    const started = performance.now();
    const end = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < end) {
          const job = await queue.add('predict', { model: 'mlp', version: 1, payload: body }, { removeOnComplete: retention, removeOnFail: retention });
          await job.waitUntilFinished(events, 30_000);
          done++;
        }
      }),
    );
    return done / ((performance.now() - started) / 1000);
  };
  try {
    await loop(2);
    return await loop(durationSeconds);
  } finally {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
    for (const connection of connections) connection.disconnect();
  }
}

export async function asyncJobsScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const prefix = `switchyard-bench:${randomBytes(6).toString('hex')}:`;
  await writeFile(join(repo.root, 'mlp', 'config.json'), JSON.stringify(MLP_CONFIG));
  const path = '/models/mlp/1/predict';
  const body = mlpBody();
  const gatewayEnv = { RUNTIME_WORKERS: '2', REDIS_URL, REDIS_PREFIX: prefix };
  try {
    const ceiling = await measureBullmqCeiling(body, durationSeconds);
    lines.push(`ceiling: BullMQ alone in one process (no HTTP, no inference, same data sizes), ${CONNECTIONS} closed loops, concurrency ${JOB_CONCURRENCY}: ${ceiling.toFixed(0)} jobs/s`);

    // 1. One gateway process: sync, then async jobs worked by its own worker.
    const gateway = await startGatewayProcess(repo.root, { ...gatewayEnv, JOB_CONCURRENCY: String(JOB_CONCURRENCY) });
    let syncRate = 0;
    try {
      const stats = async () =>
        ((await (await fetch(gateway.url + '/models/mlp')).json()) as { versions: Array<{ stats: { requests: number; executions: number } }> })
          .versions[0]!.stats;

      await runLoad({ url: gateway.url + path, method: 'POST', body, connections: CONNECTIONS, durationSeconds: 2 });
      const sync = await runLoad({ url: gateway.url + path, method: 'POST', body, connections: CONNECTIONS, durationSeconds });
      syncRate = sync.requestsPerSecond;

      await runAsyncLoad(gateway.url, path, body, CONNECTIONS, 2); // warm-up: BullMQ scripts, the event stream, JIT
      const before = await stats();
      const jobs = await runAsyncLoad(gateway.url, path, body, CONNECTIONS, durationSeconds);
      const after = await stats();
      const counts = await (await fetch(gateway.url + '/jobs')).json();

      const requests = after.requests - before.requests;
      const executions = after.executions - before.executions;
      lines.push(`sync,  ${CONNECTIONS} conns: ${formatLoad(sync)}`);
      lines.push(`async, one process, ${CONNECTIONS} loops (JOB_CONCURRENCY=${JOB_CONCURRENCY}): ${describeJobs(jobs)}`);
      lines.push(`async batching: ${requests} requests in ${executions} executions (average batch ${(requests / Math.max(1, executions)).toFixed(1)})`);
      lines.push(`GET /jobs at the end: ${JSON.stringify(counts)}`);
      lines.push(`async p99 submit->SUCCESS / sync p99 (report only): ${(jobs.p99Ms / Math.max(sync.p99Ms, 1)).toFixed(2)}`);

      lines.push(`async jobs/s / BullMQ ceiling (report only): ${(jobs.jobsPerSecond / Math.max(ceiling, 1)).toFixed(3)}; BullMQ ceiling / sync req/s: ${(ceiling / Math.max(sync.requestsPerSecond, 1)).toFixed(3)}`);
      const ratio = jobs.jobsPerSecond / sync.requestsPerSecond;
      ratios.push({ metric: `${CONNECTIONS} conns: async jobs/s (submit to SUCCESS) / sync req/s`, value: ratio, target: '>= 0.5', ok: ratio >= 0.5 });
      ratios.push({ metric: 'async jobs not ending in SUCCESS', value: jobs.failures, target: '= 0', ok: jobs.failures === 0 });
    } finally {
      await gateway.stop();
    }

    // 2. The same jobs with the work in a worker-only replica: an API replica that works no jobs
    //    (JOB_CONCURRENCY=0) plus `SWITCHYARD_MODE=worker`, on the same two cores.
    const api = await startGatewayProcess(repo.root, { ...gatewayEnv, JOB_CONCURRENCY: '0' });
    const worker = await startGatewayProcess(repo.root, { ...gatewayEnv, JOB_CONCURRENCY: String(JOB_CONCURRENCY), SWITCHYARD_MODE: 'worker' });
    try {
      await runAsyncLoad(api.url, path, body, CONNECTIONS, 2);
      const jobs = await runAsyncLoad(api.url, path, body, CONNECTIONS, durationSeconds);
      lines.push(`async, API replica + worker replica, ${CONNECTIONS} loops: ${describeJobs(jobs)}`);
      lines.push(`  ratio to the sync req/s above (report only): ${(jobs.jobsPerSecond / Math.max(syncRate, 1)).toFixed(3)}`);
      ratios.push({ metric: 'async jobs not ending in SUCCESS (API + worker replicas)', value: jobs.failures, target: '= 0', ok: jobs.failures === 0 });
    } finally {
      await Promise.all([api.stop(), worker.stop()]);
    }
  } finally {
    const deleted = await deleteRedisKeys(REDIS_URL, prefix).catch((error: unknown) => {
      lines.push(`could not delete the Redis keys under ${prefix}: ${(error as Error).message}`);
      return 0;
    });
    lines.push(`Redis: deleted ${deleted} keys under ${prefix}`);
    await repo.remove();
  }
  return { name: 'async jobs (MLP 256-1024-1024-256)', lines, ratios };
}

function describeJobs(jobs: AsyncLoadResult): string {
  return `${jobs.jobsPerSecond.toFixed(0)} jobs/s, submit->SUCCESS p50 ${jobs.p50Ms} ms, p99 ${jobs.p99Ms} ms, mean ${jobs.meanMs} ms, ${jobs.jobs} jobs, ${jobs.failures} failed, ${jobs.pollsPerJob.toFixed(2)} GET /jobs/<id> per job`;
}
