/**
 * A front gateway with an EMPTY repository in front of two real node processes (each a gateway
 * with its own temp repository), over real HTTP on 127.0.0.1. The front is built in this process
 * with a fixed member list (test/support/fixed-cluster.ts) standing in for the heartbeat directory.
 * Requests for models only the nodes have succeed, both nodes serve (x-served-by), answers are
 * byte for byte the node's own, the deadline reaches the node, junk from an upstream is a 502,
 * a slowed node gets less traffic, and a node SIGKILLed under 32 clients costs no client a failure.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { ConsecutiveFailureHealth, FixedClusterMembers, RatioRetryBudget, type FixedNode } from '../support/fixed-cluster.js';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { send } from '../support/http.js';
import { LINEAR_INPUT, LINEAR_V2_INPUT, linearAnswer, linearModel } from '../support/models.js';
import { tempDir, writeRepository, writeTextAtomically } from '../support/temp-dir.js';
import { binaryRequest } from '../v2/oip-wire.js';

const MODELS = { linear: [1], slow: [1], paced: [1] };

/** A node process with linear, slow (waits 5 s for a batch) and paced (optionally slowed) models. */
async function startNode(id: string, pacedDelayMs: number): Promise<GatewayProcess> {
  const dir = await tempDir(`node-${id}`);
  await writeRepository(dir.path, { linear: { 1: linearModel(1) }, slow: { 1: linearModel(1) }, paced: { 1: linearModel(1) } });
  await writeTextAtomically(join(dir.path, 'slow', 'config.json'), JSON.stringify({ max_queue_delay_ms: 5000, max_batch_size: 8 }));
  if (pacedDelayMs > 0) await writeTextAtomically(join(dir.path, 'paced', 'config.json'), JSON.stringify({ max_queue_delay_ms: pacedDelayMs, max_batch_size: 64 }));
  return startGatewayProcess({ NODE_ID: id, MODEL_REPO: dir.path, RUNTIME_WORKERS: '1', MODEL_STABILITY_MS: '100' });
}

function nodeEntry(node: GatewayProcess, id: string): FixedNode {
  return { id, url: node.url, models: MODELS };
}

async function startFront(nodes: FixedNode[], extra: { health?: ConsecutiveFailureHealth; budget?: RatioRetryBudget } = {}): Promise<TestGateway> {
  return startTestGateway({
    models: {},
    env: { NODE_ID: 'front' },
    switchyard: {
      members: new FixedClusterMembers(nodes),
      ...(extra.health ? { upstreamHealth: extra.health } : {}),
      ...(extra.budget ? { retryBudget: extra.budget } : {}),
    },
  });
}

async function deadlineDrops(node: GatewayProcess): Promise<number> {
  const body = (await (await fetch(`${node.url}/models/slow`)).json()) as { versions: Array<{ stats: { rejected: { deadline: number } } }> };
  return body.versions[0]!.stats.rejected.deadline;
}

describe('a front gateway with an empty repository and two nodes', () => {
  let a: GatewayProcess;
  let b: GatewayProcess;
  let front: TestGateway;

  beforeAll(async () => {
    [a, b] = await Promise.all([startNode('node-a', 0), startNode('node-b', 150)]);
    front = await startFront([nodeEntry(a, 'node-a'), nodeEntry(b, 'node-b')]);
  });

  it('serves a model only the nodes have, from both nodes (x-served-by), with x-model-version', async () => {
    const served = new Map<string, number>();
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 4 }, () => front.post('/models/linear/predict', LINEAR_INPUT)));
      for (const response of answers) {
        expect(response.status).toBe(200);
        expect(response.headers.get('x-model-version')).toBe('1');
        const by = response.headers.get('x-served-by')!;
        served.set(by, (served.get(by) ?? 0) + 1);
        expect(((await response.json()) as { outputs: { output: number[][] } }).outputs.output).toEqual(linearAnswer(1));
      }
    }
    expect([...served.keys()].sort()).toEqual(['node-a', 'node-b']);
    expect(served.get('node-a')! + served.get('node-b')!).toBe(40);
    // The nodes say who they are on their own answers too.
    expect((await fetch(`${a.url}/models/linear/predict`, { method: 'POST', body: JSON.stringify(LINEAR_INPUT), headers: { 'content-type': 'application/json' } })).headers.get('x-served-by')).toBe('node-a');
  });

  it('answers byte for byte what the node answers: native, V2 JSON and V2 binary; V2 metadata from the node', async () => {
    const native = JSON.stringify(LINEAR_INPUT);
    const direct = await send(a.url, 'POST', '/models/linear/1/predict', native, { 'content-type': 'application/json' });
    const viaFront = await send(front.url, 'POST', '/models/linear/1/predict', native, { 'content-type': 'application/json' });
    expect(viaFront.status).toBe(200);
    expect(viaFront.body.equals(direct.body)).toBe(true);

    const v2Json = JSON.stringify({ id: 'q-1', inputs: [LINEAR_V2_INPUT] });
    const directJson = await send(a.url, 'POST', '/v2/models/linear/versions/1/infer', v2Json, { 'content-type': 'application/json' });
    const frontJson = await send(front.url, 'POST', '/v2/models/linear/versions/1/infer', v2Json, { 'content-type': 'application/json' });
    expect(frontJson.status).toBe(200);
    expect(frontJson.headers['x-served-by']).toMatch(/^node-[ab]$/);
    expect(frontJson.body.equals(directJson.body)).toBe(true);

    const binary = binaryRequest(
      { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }], parameters: { binary_data_output: true } },
      [new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer)],
    );
    const directBinary = await send(a.url, 'POST', '/v2/models/linear/infer', binary.body, binary.headers);
    const frontBinary = await send(front.url, 'POST', '/v2/models/linear/infer', binary.body, binary.headers);
    expect(frontBinary.status).toBe(200);
    expect(frontBinary.headers['inference-header-content-length']).toBe(directBinary.headers['inference-header-content-length']);
    expect(frontBinary.body.equals(directBinary.body)).toBe(true);

    const metadata = await front.get('/v2/models/linear');
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({ name: 'linear', versions: ['1'], inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }] });
    expect((await front.get('/v2/models/linear/ready')).status).toBe(200);
  });

  it('refuses bad input with the node’s 400 and an unknown model with 404, as before', async () => {
    const bad = await front.post('/models/linear/predict', { inputs: { input: [[1, 2, 3]] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/input 'input'/);
    expect((await front.post('/models/nothing/predict', LINEAR_INPUT)).status).toBe(404);
    expect((await front.post('/models/linear/7/predict', LINEAR_INPUT)).status).toBe(404);
  });

  it('propagates the deadline: a short timeout is 504 and the node that had it counted the deadline', async () => {
    const before = (await deadlineDrops(a)) + (await deadlineDrops(b));
    const response = await front.post('/models/slow/predict', LINEAR_INPUT, { 'x-request-timeout-ms': '300' });
    expect(response.status).toBe(504);
    await eventually(async () => (await deadlineDrops(a)) + (await deadlineDrops(b)) === before + 1, 10_000, 'a node counted the deadline');
  });

  it('sends less traffic to a slowed node than to a fast one', async () => {
    const served = new Map<string, number>();
    const client = async () => {
      for (let i = 0; i < 25; i++) {
        const response = await front.post('/models/paced/predict', LINEAR_INPUT);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        const by = response.headers.get('x-served-by')!;
        served.set(by, (served.get(by) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    const fast = served.get('node-a') ?? 0;
    const slow = served.get('node-b') ?? 0;
    expect(fast + slow).toBe(200);
    // node-b waits up to 150 ms for each batch: its requests stay outstanding longer, so it is
    // picked less (a count, not a time: on a loaded machine the fast node is slower too).
    expect(fast, `served: fast node ${fast}, slowed node ${slow}`).toBeGreaterThan(slow);
  });

  it('answers 502 naming the target for an upstream that answers junk, at once', async () => {
    const junk: Server = createServer((socket) => socket.once('data', () => socket.end('SPAM SPAM SPAM\r\n\r\n')));
    await new Promise<void>((resolve) => junk.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(junk.address() as AddressInfo).port}`;
      const junkFront = await startFront([{ id: 'junk-node', url, models: MODELS }, nodeEntry(a, 'node-a')]);
      // The signature comes from node-a's metadata (junk-node's fails): then forward to junk-node.
      const only = await startFront([{ id: 'junk-node', url, models: MODELS }]);
      const native = await only.post('/models/linear/predict', LINEAR_INPUT);
      expect(native.status).toBe(502);
      expect(((await native.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'BAD_GATEWAY', message: expect.stringContaining('junk-node') });
      // With node-a beside it, the first request reads the signature; junk answers count as 502s, none hangs.
      const statuses = new Set<number>();
      for (let i = 0; i < 10; i++) {
        const response = await junkFront.post('/models/linear/predict', LINEAR_INPUT);
        statuses.add(response.status);
        const body = await response.text();
        if (response.status !== 200) expect(body).toContain('junk-node');
      }
      expect([...statuses].every((status) => status === 200 || status === 502)).toBe(true);
    } finally {
      junk.close();
    }
  });

  it('SIGKILL of one node under 32 concurrent clients: no client error (retried within the budget, then ejected)', async () => {
    const health = new ConsecutiveFailureHealth(3, 60_000);
    const budget = new RatioRetryBudget(0.1, 10);
    const killFront = await startFront([nodeEntry(a, 'node-a'), nodeEntry(b, 'node-b')], { health, budget });
    const failures: string[] = [];
    const servedAfterKill = new Map<string, number>();
    let done = 0;
    let killed = false;
    let stop = false;
    const client = async () => {
      while (!stop) {
        const response = await killFront.post('/models/linear/predict', LINEAR_INPUT);
        const text = await response.text();
        if (response.status !== 200) failures.push(`${response.status} ${text}`);
        else if (killed) {
          const by = response.headers.get('x-served-by')!;
          servedAfterKill.set(by, (servedAfterKill.get(by) ?? 0) + 1);
        }
        done += 1;
      }
    };
    const clients = Array.from({ length: 32 }, client);
    await eventually(() => done >= 400, 30_000, '400 requests before the kill');
    b.kill('SIGKILL');
    killed = true;
    await b.exited;
    const atKill = done;
    await eventually(() => done >= atKill + 400, 30_000, '400 requests after the kill');
    stop = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    // The dead node's failures were connect errors or resets, and it is out of rotation.
    expect(health.failures.length).toBeGreaterThan(0);
    expect(health.failures.every((f) => f.id === 'node-b' && (f.failure === 'connect' || f.failure === 'reset'))).toBe(true);
    expect(health.describe('node-b').ejected).toBe(true);
    expect(budget.retries).toBeGreaterThan(0);
    expect(budget.retries).toBeLessThanOrEqual(budget.minRetries + budget.requests * budget.ratio);
    // Requests that started on node-b before it died may still have come back from it.
    expect(servedAfterKill.get('node-a')).toBeGreaterThan(390);
  });

});
