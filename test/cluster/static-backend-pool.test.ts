/**
 * The scale-out pieces working together from config alone, as a user runs them: a front gateway
 * with an EMPTY repository and a backends file (BACKENDS_FILE) serves through static V2 backends,
 * with the default health tracking (outlier ejection, breakers) and retry budget built from the
 * settings. The backends are real Switchyard processes used through their V2 API as if they were
 * Triton, and small real HTTP servers in this file that pass their requests on to such a process
 * or answer 500 (to open breakers). Real files, real Redis (a private redis-server for the stale
 * case). The front runs in this process where a test reads its health state, as a process where
 * only HTTP is asked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { beforeEach, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../support/loopback-server.js';
import { eventually } from '../support/eventually.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { LINEAR_INPUT, LINEAR_V2_INPUT, linearAnswer } from '../support/models.js';
import { freePort } from '../support/redis-server.js';
import { startPrivateRedis } from '../support/redis.js';
import { tempDir, writeTextAtomically } from '../support/temp-dir.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';

let file: string;

beforeEach(async () => {
  expect.hasAssertions();
  file = (await tempDir('backend-pool')).join('backends.json');
});

const save = (content: unknown): Promise<void> => writeTextAtomically(file, typeof content === 'string' ? content : JSON.stringify(content));
const pool = (...urls: string[]) => ({ pool: { urls, models: { linear: [1] } } });
const targetId = (url: string) => `backend:pool:${url}`;

/** A front with an empty repository on the test's backends file, in this process. */
function startFront(env: Record<string, string> = {}, redis?: { url: string }): Promise<TestGateway> {
  return startTestGateway({ models: {}, env: { NODE_ID: 'front', BACKENDS_FILE: file, ...env }, ...(redis ? { redis } : {}) });
}

async function predict(front: { url: string }): Promise<{ status: number; servedBy: string | null; version: string | null; body: string; retryAfter: string | null }> {
  const response = await fetch(`${front.url}/models/linear/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(LINEAR_INPUT) });
  const { headers } = response;
  return { status: response.status, servedBy: headers.get('x-served-by'), version: headers.get('x-model-version'), body: await response.text(), retryAfter: headers.get('retry-after') };
}

async function metric(front: TestGateway, name: string, labels: Record<string, string>): Promise<number> {
  return valueOf(parseExposition(await (await front.get('/metrics')).text()), name, labels) ?? 0;
}

/** Forwarded attempts to backends that failed at the socket (what a dead process costs). */
async function socketFailures(front: TestGateway): Promise<number> {
  const connect = await metric(front, 'switchyard_forwarded_requests_total', { target_kind: 'backend', outcome: 'connect' });
  const reset = await metric(front, 'switchyard_forwarded_requests_total', { target_kind: 'backend', outcome: 'reset' });
  return connect + reset;
}

interface FlakyProxy {
  readonly url: string;
  /** Inference requests it received. */
  infers: number;
  /** While true, inference requests get a 500; everything else (health, metadata) is passed on. */
  failing: boolean;
}

/** A V2 server in front of a real node: passes every request on, or answers /infer with a 500. */
async function flakyProxy(node: GatewayProcess): Promise<FlakyProxy> {
  const state = { url: '', infers: 0, failing: false };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const infer = request.url?.endsWith('/infer') === true;
        if (infer) state.infers += 1;
        if (infer && state.failing) {
          response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'injected failure' }));
          return;
        }
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'inference-header-content-length', 'x-request-timeout-ms', 'x-request-id']) {
          const value = request.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const answer = await fetch(node.url + request.url, { method: request.method, headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) });
        const out: Record<string, string> = {};
        for (const name of ['content-type', 'inference-header-content-length']) {
          const value = answer.headers.get(name);
          if (value !== null) out[name] = value;
        }
        response.writeHead(answer.status, out).end(Buffer.from(await answer.arrayBuffer()));
      })().catch(() => response.destroy());
    });
  });
  return Object.assign(state, { url: await listenOnLoopback(server) });
}

describe('a front gateway with an empty repository and a backends file', () => {
  it('serves predictions through a static backend (another Switchyard used through its V2 API), native and V2, x-served-by naming the backend target', async () => {
    const backend = await startGatewayProcess({ NODE_ID: 'triton-like' });
    await save(pool(backend.url));
    // The front as a user runs it: a process, configured by its environment only.
    const front = await startGatewayProcess({ NODE_ID: 'front', BACKENDS_FILE: file, BACKEND_PROBE_INTERVAL_MS: '200' }, { models: {} });

    // The backend is a candidate once its first probes passed.
    await eventually(async () => (await predict(front)).status === 200, 20_000, 'a prediction through the backend');
    const native = await predict(front);
    expect(native.status).toBe(200);
    expect(native.servedBy).toBe(targetId(backend.url));
    expect(native.version).toBe('1');
    expect((JSON.parse(native.body) as { outputs: { output: number[][] } }).outputs.output).toEqual(linearAnswer(1));

    const v2 = await fetch(`${front.url}/v2/models/linear/versions/1/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'v2-1', inputs: [LINEAR_V2_INPUT] }),
    });
    expect(v2.status).toBe(200);
    expect(v2.headers.get('x-served-by')).toBe(targetId(backend.url));
    const body = (await v2.json()) as { id: string; model_version: string; outputs: Array<{ name: string; data: number[] }> };
    expect(body.id).toBe('v2-1');
    expect(body.model_version).toBe('1');
    expect(body.outputs[0]!.data).toEqual(linearAnswer(1).flat());
    // The front has no model of its own: the answers came from the backend.
    expect(await (await fetch(`${front.url}/models`)).json()).toMatchObject({ models: [] });
  });

  it('an unreachable backend URL beside a good one: no client error (retried, then ejected), unhealthy in describe(), no crash', async () => {
    const good = await startGatewayProcess({ NODE_ID: 'good' });
    const doomed = await startGatewayProcess({ NODE_ID: 'doomed' });
    const never = `http://127.0.0.1:${await freePort()}`;
    await save(pool(good.url, doomed.url, never));
    // Probes once at start, then not for a minute: after the kill only passive health acts.
    const front = await startFront({ BACKEND_PROBE_INTERVAL_MS: '60000' });
    await eventually(() => front.gateway.backends!.targetsFor('linear', 1).length === 2, 15_000, () => `good and doomed healthy: ${JSON.stringify(front.gateway.backends!.describe())}`);
    // Never reachable: unhealthy from its first probe, with the reason, and never a candidate.
    const row = front.gateway.backends!.describe().find((entry) => entry.url === never)!;
    expect(row).toMatchObject({ name: 'pool', healthy: false });
    expect(row.lastError).toMatch(/ECONNREFUSED|refused|connect/i);
    expect((await predict(front)).status).toBe(200);

    doomed.kill('SIGKILL');
    await doomed.exited;
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      const answer = await predict(front);
      if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
      else expect(answer.servedBy).toBe(targetId(good.url));
    }
    expect(failures).toEqual([]);
    // Its failures were retried on the good URL, and it was ejected.
    expect(await socketFailures(front)).toBeGreaterThanOrEqual(5);
    expect(await metric(front, 'switchyard_forward_retries_total', { target_kind: 'backend', failure: 'connect' }) + (await metric(front, 'switchyard_forward_retries_total', { target_kind: 'backend', failure: 'reset' }))).toBeGreaterThanOrEqual(5);
    expect(await metric(front, 'switchyard_upstream_ejections_total', { target_kind: 'backend' })).toBeGreaterThanOrEqual(1);
    expect(front.gateway.upstreamHealth.describe(targetId(doomed.url)).ejections).toBeGreaterThanOrEqual(1);
    expect((await front.get('/readyz')).status).toBe(200);
    expect(front.gateway.upstreamHealth.describe(targetId(good.url))).toMatchObject({ ejected: false, breaker: 'closed' });
  });

  it('a dead node is out of rotation right after its failures (no attempt while ejected) and back after it restarts', async () => {
    const stays = await startGatewayProcess({ NODE_ID: 'stays' });
    const port = await freePort();
    const restarts = await startGatewayProcess({ NODE_ID: 'restarts' }, { port });
    await save(pool(stays.url, restarts.url));
    const front = await startFront({ BACKEND_PROBE_INTERVAL_MS: '60000', OUTLIER_BASE_EJECTION_MS: '8000', OUTLIER_MAX_EJECTION_MS: '30000' });
    await eventually(() => front.gateway.backends!.targetsFor('linear', 1).length === 2, 15_000, 'both backends healthy');
    const dead = targetId(restarts.url);
    // Both serve while both live.
    const served = new Set<string>();
    await eventually(async () => {
      served.add((await predict(front)).servedBy ?? '');
      return served.size === 2;
    }, 20_000, () => `both serve: ${[...served].join(', ')}`);

    restarts.kill('SIGKILL');
    await restarts.exited;
    const before = await socketFailures(front);
    let sent = 0;
    while (!front.gateway.upstreamHealth.describe(dead).ejected) {
      expect((await predict(front)).status).toBe(200);
      if (++sent > 200) throw new Error('never ejected');
    }
    // Ejected after exactly OUTLIER_CONSECUTIVE_FAILURES (5) attempts to it, none of them a client error.
    expect((await socketFailures(front)) - before).toBe(5);
    const { ejectedUntil } = front.gateway.upstreamHealth.describe(dead);

    // While ejected: every request goes to the live one, none is even tried on the dead one.
    let whileEjected = 0;
    while (Date.now() < ejectedUntil! - 2_000 && whileEjected < 40) {
      const answer = await predict(front);
      expect(answer.status).toBe(200);
      expect(answer.servedBy).toBe(targetId(stays.url));
      whileEjected += 1;
    }
    expect(whileEjected).toBeGreaterThan(0);
    expect((await socketFailures(front)) - before).toBe(5);

    // Restarted at the same URL: once the ejection is over it serves again.
    await startGatewayProcess({ NODE_ID: 'restarts' }, { port });
    await eventually(() => Date.now() > ejectedUntil!, 30_000, 'the ejection ended');
    await eventually(async () => (await predict(front)).servedBy === dead, 20_000, 'the restarted backend serves again');
    expect(front.gateway.upstreamHealth.describe(dead).ejected).toBe(false);
  });
});

describe('circuit breakers from the settings', () => {
  it('open after BREAKER_MIN_REQUESTS failures each (counted), 503 CIRCUIT_OPEN with Retry-After when all are open, and close after a good probe each', async () => {
    const node = await startGatewayProcess({ NODE_ID: 'behind-proxies' });
    const [one, two] = await Promise.all([flakyProxy(node), flakyProxy(node)]);
    await save(pool(one!.url, two!.url));
    // Ejection out of the way (it would take one of the two first): only the breakers act.
    const front = await startFront({ BACKEND_PROBE_INTERVAL_MS: '60000', BREAKER_MIN_REQUESTS: '5', BREAKER_OPEN_MS: '1500', OUTLIER_CONSECUTIVE_FAILURES: '1000' });
    await eventually(() => front.gateway.backends!.targetsFor('linear', 1).length === 2, 15_000, 'both proxies healthy');
    // The signature is read from the metadata (not an inference), so every inference below counts.
    expect((await front.get('/v2/models/linear/versions/1')).status).toBe(200);

    one!.failing = true;
    two!.failing = true;
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof predict>> | undefined;
    while (statuses.length < 100) {
      last = await predict(front);
      statuses.push(last.status);
      if (last.status !== 502) break;
    }
    // 5 failures each (BREAKER_MIN_REQUESTS, all failed): 10 answers of 502, then the breakers are open.
    expect(statuses).toEqual([...Array<number>(10).fill(502), 503]);
    expect([one!.infers, two!.infers]).toEqual([5, 5]);
    expect(JSON.parse(last!.body)).toMatchObject({ error: { code: 'CIRCUIT_OPEN' } });
    expect(Number(last!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(await metric(front, 'switchyard_upstream_breaker_transitions_total', { target_kind: 'backend', to: 'open' })).toBe(2);
    expect(front.gateway.upstreamHealth.describe(targetId(one!.url)).breaker).toBe('open');
    // Open: nothing reaches them.
    expect((await predict(front)).status).toBe(503);
    expect(one!.infers + two!.infers).toBe(10);

    // Good answers again; past BREAKER_OPEN_MS each half-opens and its probe closes it.
    one!.failing = false;
    two!.failing = false;
    await eventually(
      () => [one!, two!].every((proxy) => front.gateway.upstreamHealth.describe(targetId(proxy.url)).breaker === 'half-open'),
      10_000,
      'both half-open',
    );
    const first = await predict(front);
    const second = await predict(front);
    expect([first.status, second.status]).toEqual([200, 200]);
    // Each request carried one probe, to the target that handed it out: one each.
    expect(new Set([first.servedBy, second.servedBy])).toEqual(new Set([targetId(one!.url), targetId(two!.url)]));
    expect([one!.url, two!.url].map((url) => front.gateway.upstreamHealth.describe(targetId(url)).breaker)).toEqual(['closed', 'closed']);
    expect(await metric(front, 'switchyard_upstream_breaker_transitions_total', { target_kind: 'backend', to: 'closed' })).toBe(2);
    for (let i = 0; i < 10; i++) expect((await predict(front)).status).toBe(200);
  });

  it('a backend URL removed from the file takes its health with it: added again, it starts with a closed breaker', async () => {
    const node = await startGatewayProcess({ NODE_ID: 'behind-proxy' });
    const proxy = await flakyProxy(node);
    await save(pool(proxy.url));
    const front = await startFront({ BACKEND_PROBE_INTERVAL_MS: '200', BREAKER_MIN_REQUESTS: '3', BREAKER_OPEN_MS: '600000' });
    await eventually(() => front.gateway.backends!.targetsFor('linear', 1).length === 1, 15_000, 'the proxy healthy');
    proxy.failing = true;
    for (let i = 0; i < 3; i++) expect((await predict(front)).status).toBe(502);
    expect(JSON.parse((await predict(front)).body)).toMatchObject({ error: { code: 'CIRCUIT_OPEN' } });

    await save({});
    await eventually(() => front.gateway.backends!.describe().length === 0, 10_000, 'the URL removed');
    expect(front.gateway.upstreamHealth.describe(targetId(proxy.url)).breaker).toBe('closed');
    proxy.failing = false;
    await save(pool(proxy.url));
    await eventually(() => front.gateway.backends!.targetsFor('linear', 1).length === 1, 15_000, 'the proxy back and healthy');
    const answer = await predict(front);
    expect(answer.status).toBe(200);
    expect(answer.servedBy).toBe(targetId(proxy.url));
  });
});

describe('bad backend configuration while serving', () => {
  it('a bad backends file keeps the last good set serving; /readyz warns (not fails) and names what is refused', async () => {
    const backend = await startGatewayProcess({ NODE_ID: 'kept' });
    await save(pool(backend.url));
    const front = await startFront({ BACKEND_PROBE_INTERVAL_MS: '200' });
    await eventually(async () => (await predict(front)).status === 200, 15_000, 'served through the backend');
    const readyz = async () => (await (await front.get('/readyz')).json()) as { ready: boolean; warnings?: string[] };
    expect((await readyz()).warnings).toBeUndefined();

    await save('{"pool": {"urls": [');
    await eventually(async () => ((await readyz()).warnings ?? []).some((w) => w.includes('backends file')), 10_000, 'a warning about the file');
    expect((await front.get('/readyz')).status).toBe(200);
    expect((await readyz()).warnings).toEqual([expect.stringMatching(/^backends: the backends file is refused \(.*backends\.json is not valid JSON: .+\); the last good set serves$/)]);
    for (let i = 0; i < 5; i++) {
      const answer = await predict(front);
      expect(answer.status).toBe(200);
      expect(answer.servedBy).toBe(targetId(backend.url));
    }

    // One bad entry: refused by name, its last good version serves.
    await save({ pool: { urls: ['ftp://127.0.0.1:1'], models: { linear: [1] } } });
    await eventually(async () => ((await readyz()).warnings ?? []).some((w) => w.includes('backend "pool"')), 10_000, 'a warning naming the backend');
    expect((await readyz()).warnings).toEqual([expect.stringMatching(/^backends: backend "pool" in the backends file is refused \(.*ftp.*\); its last good version, if any, serves$/)]);
    expect((await predict(front)).servedBy).toBe(targetId(backend.url));

    await save(pool(backend.url));
    await eventually(async () => (await readyz()).warnings === undefined, 10_000, 'the warnings gone once the file is good');
  });

  it('Redis down: the backends read from it are kept and /readyz warns that they are stale', async () => {
    const redis = await startPrivateRedis();
    await save({});
    const front = await startFront({}, { url: redis.url });
    expect(front.gateway.backends!.stale).toBe(false);
    await redis.kill();
    const readyz = async () => (await (await front.get('/readyz')).json()) as { ready: boolean; warnings?: string[] };
    await eventually(async () => ((await readyz()).warnings ?? []).some((w) => w.startsWith('backends: Redis could not be read')), 15_000, async () => `a stale warning: ${JSON.stringify(await readyz())}`);
    expect((await front.get('/readyz')).status).toBe(200);
  });
});
