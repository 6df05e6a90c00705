/**
 * The cluster scheduler through real gateways in this process (a node and a front, real HTTP on
 * port 0) and tiny real servers that fail: one retry on another candidate only when no byte of
 * the answer arrived and the budget allows it; never after an answer started; 503 with
 * Retry-After and the reason when no candidate is usable; local answers say who served them and
 * this process is a candidate beside the nodes.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamFailure, UpstreamHealth, UpstreamHealthView } from '../../src/cluster/cluster-types.js';
import { FixedClusterMembers, RatioRetryBudget, type FixedNode } from '../support/fixed-cluster.js';
import { buildLinearModel } from '../../tools/model-builder/index.js';
import { eventually, sleep, startTestGateway, type TestGateway } from '../support/gateway.js';
import { LINEAR_INPUT, LINEAR_V2_INPUT, linearModel } from '../support/models.js';

const MODELS = { linear: [1] };

/** Every target behind one reason (a breaker open, or ejected) until `until`. */
class AllExcluded implements UpstreamHealth {
  constructor(
    readonly reason: 'ejected' | 'circuit-open',
    readonly until: number,
  ) {}
  select(ids: readonly string[]) {
    return { usable: [], excluded: ids.map((id) => ({ id, reason: this.reason })) };
  }
  recordSuccess(): void {}
  recordFailure(_id: string, _failure: UpstreamFailure): void {}
  describe(): UpstreamHealthView {
    return { ejected: true, ejectedUntil: this.until, ejections: 1, consecutiveFailures: 5, breaker: this.reason === 'circuit-open' ? 'open' : 'closed' };
  }
  forget(): void {}
}

async function closedPortUrl(): Promise<string> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise((resolve) => server.close(resolve));
  return url;
}

describe('the cluster scheduler', () => {
  let node: TestGateway;
  let failing: Server;
  let failingUrl: string;
  let deadUrl: string;

  beforeAll(async () => {
    node = await startTestGateway({ env: { NODE_ID: 'node-1' } });
    failing = createHttpServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end('{"error":"exploded"}');
      });
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`;
    deadUrl = await closedPortUrl();
  });
  afterAll(() => {
    failing.closeAllConnections();
    failing.close();
  });

  const nodeEntry = (): FixedNode => ({ id: 'node-1', url: node.url, models: MODELS });

  it('says who served on local answers (native and V2) when there are no members at all', async () => {
    const native = await node.post('/models/linear/predict', LINEAR_INPUT);
    expect(native.headers.get('x-served-by')).toBe('node-1');
    const v2 = await node.post('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT] });
    expect(v2.headers.get('x-served-by')).toBe('node-1');
  });

  it('retries a refused connection once on another candidate, within the budget', async () => {
    const budget = new RatioRetryBudget(0.1, 100);
    const front = await startTestGateway({ models: {}, env: { NODE_ID: 'front' }, switchyard: { members: new FixedClusterMembers([{ id: 'dead', url: deadUrl, models: MODELS }, nodeEntry()]), retryBudget: budget } });
    for (let i = 0; i < 20; i++) {
      const response = await front.post('/models/linear/predict', LINEAR_INPUT);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-served-by')).toBe('node-1');
    }
    expect(budget.retries).toBeGreaterThan(0);
    const metrics = await (await front.get('/metrics')).text();
    expect(metrics).toMatch(/switchyard_forward_retries_total\{target_kind="node",failure="connect"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_forwarded_requests_total\{target_kind="node",outcome="success"\} 20/);
  });

  it('without budget left the refused attempt is the answer: 502 naming the target', async () => {
    const budget = new RatioRetryBudget(0, 0);
    const front = await startTestGateway({ models: {}, switchyard: { members: new FixedClusterMembers([{ id: 'dead', url: deadUrl, models: MODELS }, nodeEntry()]), retryBudget: budget } });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await front.post('/models/linear/predict', LINEAR_INPUT);
      statuses.push(response.status);
      if (response.status !== 200) expect(((await response.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'BAD_GATEWAY', message: expect.stringMatching(/dead.*could not be connected to/) });
    }
    expect(statuses).toContain(502);
    expect(budget.retries).toBe(0);
  });

  it('never retries once an answer started: a 500 is a 502 for the client', async () => {
    const budget = new RatioRetryBudget(1, 100);
    const front = await startTestGateway({ models: {}, switchyard: { members: new FixedClusterMembers([{ id: 'failing', url: failingUrl, models: MODELS }, nodeEntry()]), retryBudget: budget } });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await front.post('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT] });
      statuses.push(response.status);
      if (response.status !== 200) expect(((await response.json()) as { error: string }).error).toMatch(/failing.*answered 500: exploded/);
    }
    expect(statuses).toContain(502);
    expect(statuses).toContain(200);
    expect(budget.retries).toBe(0);
  });

  it('503 CIRCUIT_OPEN with Retry-After when every candidate’s breaker is open; NO_HEALTHY_BACKEND when all are ejected', async () => {
    const open = await startTestGateway({ models: {}, switchyard: { members: new FixedClusterMembers([nodeEntry()]), upstreamHealth: new AllExcluded('circuit-open', Date.now() + 4_500) } });
    const refused = await open.post('/models/linear/predict', LINEAR_INPUT);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(4);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('CIRCUIT_OPEN');
    const v2 = await open.post('/v2/models/linear/versions/1/infer', { inputs: [LINEAR_V2_INPUT] });
    expect(v2.status).toBe(503);

    const ejected = await startTestGateway({ models: {}, switchyard: { members: new FixedClusterMembers([nodeEntry()]), upstreamHealth: new AllExcluded('ejected', Date.now() + 2_000) } });
    const none = await ejected.post('/models/linear/predict', LINEAR_INPUT);
    expect(none.status).toBe(503);
    expect(none.headers.get('retry-after')).not.toBeNull();
    expect(((await none.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'NO_HEALTHY_BACKEND', message: expect.stringContaining('out of rotation') });
  });

  it('counts this process as a candidate beside the nodes: both serve', async () => {
    const front = await startTestGateway({ env: { NODE_ID: 'front' }, switchyard: { members: new FixedClusterMembers([nodeEntry()]) } });
    const served = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 4 }, () => front.post('/models/linear/predict', LINEAR_INPUT)));
      for (const response of answers) {
        expect(response.status).toBe(200);
        served.add(response.headers.get('x-served-by')!);
      }
    }
    expect([...served].sort()).toEqual(['front', 'node-1']);
  });

  it('sends a request elsewhere when a node answers 404 (the version went away there since its heartbeat)', async () => {
    const other = await startTestGateway({ env: { NODE_ID: 'node-3' }, models: { linear: { 2: linearModel(2) } } });
    const budget = new RatioRetryBudget(0.1, 100);
    // node-1 is said to have version 2 (a stale heartbeat), but only node-3 does.
    const members = new FixedClusterMembers([{ id: 'node-1', url: node.url, models: { linear: [2] } }, { id: 'node-3', url: other.url, models: { linear: [2] } }]);
    const front = await startTestGateway({ models: {}, switchyard: { members, retryBudget: budget } });
    for (let i = 0; i < 20; i++) {
      const response = await front.post('/models/linear/2/predict', LINEAR_INPUT);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-served-by')).toBe('node-3');
    }
    expect(budget.retries).toBeGreaterThan(0);
    expect(await (await front.get('/metrics')).text()).toMatch(/switchyard_forward_retries_total\{target_kind="node",failure="not-found"\} [1-9]/);
  });

  it('reads a cached signature again when the inputs do not match it (the node reloaded the version with another shape)', async () => {
    const other = await startTestGateway({ env: { NODE_ID: 'node-2' }, models: { reshaped: { 1: linearModel(1) } } });
    const front = await startTestGateway({ models: {}, switchyard: { members: new FixedClusterMembers([{ id: 'node-2', url: other.url, models: { reshaped: [1] } }]) } });
    expect((await front.post('/models/reshaped/predict', LINEAR_INPUT)).status).toBe(200);
    await other.writeModel('reshaped', 1, buildLinearModel({ inputSize: 3, outputSize: 2, scale: 1 }));
    await eventually(async () => JSON.stringify(await (await other.get('/v2/models/reshaped')).json()).includes('[-1,3]'), 20_000, 'the node reloaded the new shape');
    await sleep(1_100); // a signature is read again at most once a second
    const threeWide = { inputs: { input: [[1, 2, 3]] } };
    const response = await front.post('/models/reshaped/predict', threeWide);
    expect(response.status).toBe(200);
    const v2 = await front.post('/v2/models/reshaped/infer', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    expect(v2.status).toBe(200);
  });
});
