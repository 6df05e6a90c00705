/**
 * HTTP_LOOPS=2 on the real process: the primary forks two gateway processes sharing the port.
 * Predictions and hot swaps under load on every loop lose nothing, SIGTERM under keep-alive load
 * drains every loop without a reset connection, and a loop killed with SIGKILL is logged and
 * replaced while the other keeps serving; request ids, deadlines and disconnects hold on every loop;
 * /metrics, model listings and their stats, rate limits
 * and the V2 repository load/unload cover every loop.
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeModelFile } from '../../tools/model-builder/index.js';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, LINEAR_INPUT } from '../support/gateway.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { json, send } from '../support/http.js';
import { keepAliveLoad, LINEAR_BODY } from '../support/keep-alive-load.js';
import { linearModel } from '../support/models.js';
import { tempDir, writeRepository } from '../support/temp-dir.js';

const LOOPS = 2;
const root = fileURLToPath(new URL('../../', import.meta.url));

/** Starts HTTP_LOOPS=2 and waits until both loops have listened and scanned the repository. */
async function startLoops(env: Record<string, string> = {}): Promise<GatewayProcess> {
  const gateway = await startGatewayProcess({ HTTP_LOOPS: String(LOOPS), RUNTIME_WORKERS: '1', MODEL_STABILITY_MS: '100', ...env });
  await eventually(() => linesWith(gateway, 'repository scanned').length === LOOPS, 30_000, 'both loops scanned the repository');
  return gateway;
}

function linesWith(gateway: GatewayProcess, msg: string): Array<Record<string, unknown>> {
  return gateway.logLines().filter((line) => line.msg === msg);
}

/** Loop index -> pid, from the primary's `loop-listening` lines (the latest per loop). */
function loopPids(gateway: GatewayProcess): Map<number, number> {
  return new Map(gateway.logLines().filter((line) => line.event === 'loop-listening').map((line) => [line.loop as number, line.pid as number]));
}

/** One prediction on a connection of its own (so cluster hands it to the next loop in turn). */
async function predictOnNewConnection(url: string): Promise<number> {
  const answer = await send(url, 'POST', '/models/linear/1/predict', LINEAR_BODY, { 'content-type': 'application/json', connection: 'close' });
  return answer.status;
}

describe('HTTP_LOOPS=2', () => {
  it('runs two loops, each a gateway process of its own, that answer predictions', async () => {
    const gateway = await startLoops();
    const pids = loopPids(gateway);
    expect([...pids.keys()].sort()).toEqual([0, 1]);
    expect(new Set([gateway.pid, ...pids.values()]).size).toBe(3);
    const statuses = await Promise.all(Array.from({ length: 20 }, () => predictOnNewConnection(gateway.url)));
    expect(statuses.every((status) => status === 200)).toBe(true);
    const answer = await fetch(gateway.url + '/models/linear/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(LINEAR_INPUT) });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-request-id')).toBeTruthy();
    // Each loop logs with its index.
    expect(new Set(linesWith(gateway, 'repository scanned').map((line) => line.loop))).toEqual(new Set([0, 1]));
  });

  it('answers as one node from every loop: one x-served-by, the id drawn by the primary', async () => {
    const gateway = await startLoops();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => send(gateway.url, 'POST', '/models/linear/1/predict', LINEAR_BODY, { 'content-type': 'application/json', connection: 'close' })),
    );
    const servedBy = new Set(answers.map((answer) => answer.headers['x-served-by']));
    expect(servedBy.size).toBe(1);
    expect([...servedBy][0]).toContain(`-${gateway.pid}-`);
  });

  it('loses no request while versions are swapped under load on every loop', async () => {
    const gateway = await startLoops();
    let stop = false;
    const failures: string[] = [];
    let answered = 0;
    const client = async () => {
      while (!stop) {
        try {
          // A fresh connection each time, so both loops keep getting requests.
          const status = await predictOnNewConnection(gateway.url);
          if (status === 200) answered++;
          else failures.push(String(status));
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const clients = Array.from({ length: 16 }, client);
    const SWAPS = 4;
    for (let i = 0; i < SWAPS; i++) {
      await writeModelFile(join(gateway.repo, 'linear', '1', 'model.onnx'), linearModel(i + 2));
      // Every loop watches the repository and swaps its own session.
      await eventually(
        () => new Set(gateway.logLines().filter((line) => line.msg === 'model swapped' && line.version === 1).map((line) => `${line.loop}`)).size === LOOPS &&
          gateway.logLines().filter((line) => line.msg === 'model swapped' && line.version === 1).length >= LOOPS * (i + 1),
        20_000,
        `swap ${i + 1} on both loops`,
      );
    }
    stop = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(16 * SWAPS);
  });

  it('drains every loop on SIGTERM under keep-alive load: no socket error, exit 0', async () => {
    const gateway = await startLoops();
    let signalled = false;
    const result = await keepAliveLoad(gateway.url, 32, (total) => {
      if (!signalled && total >= 300) {
        signalled = true;
        gateway.kill('SIGTERM');
      }
    });
    expect(result.errors).toEqual([]);
    expect(result.closes).toBe(32);
    expect([...result.statuses.keys()].every((status) => status === 200 || status === 503)).toBe(true);
    expect(await gateway.exited).toBe(0);
    // Each loop ran its own drain to the end.
    const complete = linesWith(gateway, 'shutdown complete');
    expect(new Set(complete.map((line) => line.loop))).toEqual(new Set([0, 1]));
    expect(complete.every((line) => line.drained === true)).toBe(true);
  });

  it('replaces a loop killed with SIGKILL, logs it, and the other loop keeps serving', async () => {
    const gateway = await startLoops();
    const victim = loopPids(gateway).get(0)!;
    process.kill(victim, 'SIGKILL');
    await eventually(() => gateway.logLines().some((line) => line.event === 'loop-exited' && line.pid === victim), 10_000, 'the primary saw the loop exit');
    const exited = gateway.logLines().find((line) => line.event === 'loop-exited' && line.pid === victim)!;
    expect(exited).toMatchObject({ loop: 0, signal: 'SIGKILL', level: 50 });
    // While (or before) the replacement starts, every new connection goes to a live loop.
    const statuses = await Promise.all(Array.from({ length: 10 }, () => predictOnNewConnection(gateway.url)));
    expect(statuses.every((status) => status === 200)).toBe(true);
    await eventually(() => gateway.logLines().some((line) => line.event === 'loop-replaced' && line.loop === 0), 30_000, 'loop 0 replaced');
    const replacement = loopPids(gateway).get(0)!;
    expect(replacement).not.toBe(victim);
    await eventually(() => linesWith(gateway, 'repository scanned').length === LOOPS + 1, 30_000, 'the replacement scanned the repository');
    const after = await Promise.all(Array.from({ length: 10 }, () => predictOnNewConnection(gateway.url)));
    expect(after.every((status) => status === 200)).toBe(true);
    gateway.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  });
});

/** The sum of a metric's samples whose labels include every `labels` pair. */
function metricSum(exposition: string, metric: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    if (!Object.entries(labels).every(([name, value]) => line.includes(`${name}="${value}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function metricsOnNewConnection(url: string): Promise<string> {
  const answer = await send(url, 'GET', '/metrics', undefined, { connection: 'close' });
  expect(answer.status).toBe(200);
  return answer.body.toString();
}

describe('HTTP_LOOPS=2: one /metrics and one model listing for the whole server', () => {
  it('counts the requests of every loop in /metrics, whichever loop answers the scrape', async () => {
    const gateway = await startLoops();
    const REQUESTS = 20;
    const statuses = await Promise.all(Array.from({ length: REQUESTS }, () => predictOnNewConnection(gateway.url)));
    expect(statuses.every((status) => status === 200)).toBe(true);
    // Several scrapes on new connections reach both loops; each must hold all the requests.
    for (let i = 0; i < 4; i++) {
      const text = await metricsOnNewConnection(gateway.url);
      expect(metricSum(text, 'switchyard_requests_total', { model: 'linear', version: '1' })).toBe(REQUESTS);
      // A state gauge is not summed over the loops: the version is READY once, not twice.
      expect(metricSum(text, 'switchyard_model_state', { model: 'linear', version: '1', state: 'READY' })).toBe(1);
    }
  });

  it('lists the same models and versions from every loop', async () => {
    const gateway = await startLoops();
    const listings = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const answer = await send(gateway.url, 'GET', '/models', undefined, { connection: 'close' });
        expect(answer.status).toBe(200);
        const body = JSON.parse(answer.body.toString()) as { models: Array<{ name: string; versions: Array<{ version: number; state: string }> }> };
        return JSON.stringify(body.models.map((m) => ({ name: m.name, versions: m.versions.map((v) => ({ version: v.version, state: v.state })) })));
      }),
    );
    expect(new Set(listings).size).toBe(1);
    expect(listings[0]).toContain('"linear"');
  });

  it("counts every loop's requests in the version stats of GET /models/<name>, whichever loop answers", async () => {
    const gateway = await startLoops();
    const REQUESTS = 20;
    const statuses = await Promise.all(Array.from({ length: REQUESTS }, () => predictOnNewConnection(gateway.url)));
    expect(statuses.every((status) => status === 200)).toBe(true);
    const requestsSeen = async () => {
      const answer = await send(gateway.url, 'GET', '/models/linear', undefined, { connection: 'close' });
      const body = JSON.parse(answer.body.toString()) as { versions: Array<{ version: number; stats: { requests: number } }> };
      return body.versions.find((v) => v.version === 1)!.stats.requests;
    };
    // The loops share their counters every 250 ms: eventually every answer, from both loops, says 20.
    await eventually(
      async () => (await Promise.all(Array.from({ length: 6 }, requestsSeen))).every((requests) => requests === REQUESTS),
      10_000,
      'stats covering both loops from every loop',
    );
  });
});

describe('HTTP_LOOPS=2: rate limits hold across the loops', () => {
  // A window of 4 requests per 80 s: the test's requests all fall in one window.
  const LIMITS = { RATE_LIMIT_CLIENT_RPS: '0.05', RATE_LIMIT_CLIENT_BURST: '4' };

  it.each([
    ['without Redis (the primary holds the counters)', false],
    ['with Redis (shared counters)', true],
  ])('%s: one client gets its burst once, not once per loop', async (_, redis) => {
    const gateway = await startGatewayProcess({ HTTP_LOOPS: String(LOOPS), RUNTIME_WORKERS: '1', ...LIMITS }, { redis });
    await eventually(() => linesWith(gateway, 'repository scanned').length === LOOPS, 30_000, 'both loops scanned the repository');
    const statuses: number[] = [];
    // One at a time, each on a new connection: cluster hands them to the loops in turn.
    for (let i = 0; i < 12; i++) statuses.push(await predictOnNewConnection(gateway.url));
    expect(statuses.filter((status) => status === 200)).toHaveLength(4);
    expect(statuses.filter((status) => status === 429)).toHaveLength(8);
  });
});

describe('HTTP_LOOPS=2: the V2 repository extension acts on every loop', () => {
  it('unloads and loads a model in both loops, whichever loop gets the request', async () => {
    const gateway = await startLoops({ ADMIN_TOKEN: 'secret' });
    const admin = { authorization: 'Bearer secret', connection: 'close' };
    expect((await send(gateway.url, 'POST', '/v2/repository/models/linear/unload', undefined, admin)).status).toBe(200);
    const whileUnloaded = await Promise.all(Array.from({ length: 10 }, () => predictOnNewConnection(gateway.url)));
    expect(whileUnloaded).toEqual(Array.from({ length: 10 }, () => 503));
    expect((await send(gateway.url, 'POST', '/v2/repository/models/linear/load', undefined, admin)).status).toBe(200);
    const loaded = await Promise.all(Array.from({ length: 10 }, () => predictOnNewConnection(gateway.url)));
    expect(loaded).toEqual(Array.from({ length: 10 }, () => 200));
  });
});

describe('HTTP_LOOPS=2: the server runs as many async jobs at once as one process', () => {
  it('splits the default JOB_CONCURRENCY between the loops, and keeps a set one per loop', async () => {
    const split = await startGatewayProcess({ HTTP_LOOPS: String(LOOPS), RUNTIME_WORKERS: '1' }, { redis: true });
    await eventually(() => linesWith(split, 'job worker started').length === LOOPS, 30_000, 'both job workers started');
    expect(linesWith(split, 'job worker started').map((line) => line.concurrency)).toEqual([16, 16]);
    const set = await startGatewayProcess({ HTTP_LOOPS: String(LOOPS), RUNTIME_WORKERS: '1', JOB_CONCURRENCY: '3' }, { redis: true });
    await eventually(() => linesWith(set, 'job worker started').length === LOOPS, 30_000, 'both job workers started');
    expect(linesWith(set, 'job worker started').map((line) => line.concurrency)).toEqual([3, 3]);
  });
});

describe('HTTP_LOOPS=2: a loop that can not start', () => {
  it('stops the server with exit 1 when a loop exits before it ever listened (the port is taken)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const repo = await tempDir('loops-taken-port');
    await writeRepository(repo.path, { linear: { 1: linearModel(1) } });
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/main.ts')], {
      cwd: root,
      env: { ...process.env, HTTP_LOOPS: String(LOOPS), RUNTIME_WORKERS: '1', PORT: String(port), HOST: '127.0.0.1', MODEL_REPO: repo.path, ROUTES_FILE: join(repo.path, 'routes.json'), REDIS_URL: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanupAfter(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      taken.close();
      await repo.remove();
    });
    expect(await exited).toBe(1);
    expect(log).toContain('"event":"loop-failed"');
    expect(log).toContain('already in use');
  });
});

describe('HTTP_LOOPS=2: request ids, deadlines and client disconnects as in one process', () => {
  it('echoes request ids, answers 504 to passed deadlines and drops disconnected clients on every loop', async () => {
    const repo = await tempDir('loops-deadlines');
    await writeRepository(repo.path, { linear: { 1: linearModel(1) } });
    // A long queue delay keeps lone requests waiting for company: deadlines and disconnects come first.
    await writeFile(join(repo.path, 'linear', 'config.json'), JSON.stringify({ max_queue_delay_ms: 3000, max_batch_size: 64 }));
    const gateway = await startLoops({ MODEL_REPO: repo.path });
    const metrics = () => metricsOnNewConnection(gateway.url);

    // Each on a connection of its own, so cluster hands them to both loops in turn.
    const LATE = 4;
    const late = await Promise.all(
      Array.from({ length: LATE }, (_, i) =>
        send(gateway.url, 'POST', '/models/linear/1/predict', LINEAR_BODY, {
          'content-type': 'application/json',
          connection: 'close',
          'x-request-id': `late-${i}`,
          'x-request-timeout-ms': '50',
        }),
      ),
    );
    for (const [i, answer] of late.entries()) {
      expect(answer.status).toBe(504);
      expect(answer.headers['x-request-id']).toBe(`late-${i}`);
      expect(json(answer).error.code).toBe('DEADLINE_EXCEEDED');
    }
    // Both loops answered some, each logging the client's request id.
    await eventually(() => gateway.logLines().filter((line) => String(line.requestId).startsWith('late-')).length === LATE, 5_000, 'a log line per late request');
    const lateLines = gateway.logLines().filter((line) => String(line.requestId).startsWith('late-'));
    expect(new Set(lateLines.map((line) => line.loop))).toEqual(new Set([0, 1]));

    const GONE = 4;
    const controllers = Array.from({ length: GONE }, () => new AbortController());
    const abandoned = controllers.map((controller) =>
      fetch(`${gateway.url}/models/linear/1/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: LINEAR_BODY,
        signal: controller.signal,
      }).catch(() => undefined),
    );
    const queued = async () => metricSum(await metrics(), 'switchyard_queue_depth', { model: 'linear', version: '1' });
    await eventually(async () => (await queued()) === GONE, 10_000, 'every abandoned request queued');
    for (const controller of controllers) controller.abort();
    await Promise.all(abandoned);
    await eventually(async () => (await queued()) === 0, 10_000, 'abandoned requests dropped from the queues');

    // Both loops took part, and the whole server's counts add up: no execution ran.
    const exposition = await metrics();
    expect(metricSum(exposition, 'switchyard_inference_executions_total', { model: 'linear', version: '1' })).toBe(0);
    const stats = async () => {
      const answer = await send(gateway.url, 'GET', '/models/linear', undefined, { connection: 'close' });
      return (json(answer) as { versions: Array<{ version: number; stats: { rejected: { deadline: number; cancelled: number } } }> }).versions.find((v) => v.version === 1)!.stats.rejected;
    };
    await eventually(async () => {
      const rejected = await stats();
      return rejected.deadline === LATE && rejected.cancelled === GONE;
    }, 10_000, 'deadline and cancelled counts of both loops');
    gateway.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    await repo.remove();
  });
});
