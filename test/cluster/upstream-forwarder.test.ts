/**
 * The forwarding hop against real servers on 127.0.0.1: a real gateway as the upstream (binary
 * tensors both ways, the deadline and the request id reach it), and tiny real servers that
 * misbehave (junk bytes, a 500, silence, a closed port): each gives a classified failure and a
 * 502 naming the target, never a hang.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamTarget } from '../../src/cluster/cluster-types.js';
import { UpstreamError, UpstreamForwarder } from '../../src/cluster/upstream-forwarder.js';
import { SwitchyardError } from '../../src/errors.js';
import { encodeInferRequest, decodeInferRequest } from '../../src/protocol/oip-request.js';
import { decodeInferResponse, encodeInferResponse } from '../../src/protocol/oip-response.js';
import type { Tensor } from '../../src/tensor.js';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { linearAnswer } from '../support/models.js';

const input: Tensor = { datatype: 'FP32', shape: [1, 4], data: Float32Array.from([1, 2, 3, 4]) };

function target(url: string, id = 'node-x'): UpstreamTarget {
  return { id, kind: 'node', baseUrl: url, reportedLoad: 0, weight: 1 };
}

async function failureOf(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

function listen(server: Server | NetServer): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

describe('the OIP codecs of the hop', () => {
  it('a request encoded for the hop decodes to the same tensors; an answer decodes from binary and from JSON data', () => {
    const inputs: Record<string, Tensor> = {
      a: { datatype: 'INT64', shape: [2], data: BigInt64Array.from([9007199254740993n, -1n]) },
      b: { datatype: 'BYTES', shape: [2], data: ['héllo', ''] },
      c: { datatype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    };
    const signature = {
      inputs: [
        { name: 'a', datatype: 'INT64' as const, shape: [-1] },
        { name: 'b', datatype: 'BYTES' as const, shape: [-1] },
        { name: 'c', datatype: 'BOOL' as const, shape: [-1] },
      ],
      outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1] }],
    };
    const encoded = encodeInferRequest({ id: 'r-1', inputs, outputs: ['y'] });
    const decoded = decodeInferRequest(encoded.body, encoded.headerLength, signature);
    expect(decoded.id).toBe('r-1');
    expect(decoded.inputs).toEqual(inputs);
    expect([...decoded.binaryOutputs]).toEqual(['y']);

    const outputs = { y: { datatype: 'FP32' as const, shape: [2], data: Float32Array.from([0.5, -2]) } };
    const binary = encodeInferResponse({ model: 'm', version: 3, id: undefined, outputs, order: ['y'], binaryOutputs: new Set(['y']) });
    expect(decodeInferResponse(binary.body as Buffer, binary.headerLength).outputs).toEqual(outputs);
    const asJson = encodeInferResponse({ model: 'm', version: 3, id: undefined, outputs, order: ['y'], binaryOutputs: new Set() });
    expect(decodeInferResponse(Buffer.from(asJson.body), undefined)).toEqual({ model: 'm', version: '3', outputs });
  });
});

describe('forwarding to a real gateway', () => {
  let node: TestGateway;
  const forwarder = new UpstreamForwarder({ timeoutMs: 10_000 });
  beforeAll(async () => {
    node = await startTestGateway();
    await node.writeModelConfig('slow', { max_queue_delay_ms: 5000, max_batch_size: 8 });
    await node.writeLinear('slow', 1, 1);
    await eventually(async () => (await node.get('/v2/models/slow/ready')).status === 200, 20_000, 'slow ready');
  });
  afterAll(() => forwarder.close());
  const slowStats = async () =>
    ((await (await node.get('/models/slow')).json()) as { versions: Array<{ stats: { requests: number; rejected: { deadline: number } } }> }).versions[0]!;

  it('sends the tensors as binary data and reads binary outputs back', async () => {
    const result = await forwarder.forward(target(node.url), { model: 'linear', version: 1, inputs: { input }, requestId: 'fwd-1' });
    expect(Array.from(result.outputs.output!.data as Float32Array)).toEqual(linearAnswer(1).flat());
    expect(result.outputs.output!.shape).toEqual([1, 2]);
    expect(forwarder.inFlight('node-x')).toBe(0);
  });

  it('passes a 4xx through with its status and message, as no failure of the upstream', async () => {
    const bad: Tensor = { datatype: 'FP32', shape: [1, 3], data: Float32Array.from([1, 2, 3]) };
    const error = await failureOf(forwarder.forward(target(node.url), { model: 'linear', version: 1, inputs: { input: bad } }));
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/input 'input'/);
    expect(error.failure).toBeUndefined();
    expect(error.retryable).toBe(false);
    const gone = await failureOf(forwarder.forward(target(node.url), { model: 'linear', version: 9, inputs: { input } }));
    expect(gone.status).toBe(404);
    expect(gone.failure).toBeUndefined();
    expect(gone.retryable).toBe(true); // the version is not there: nothing ran
  });

  it('refuses a passed deadline here (504) without sending; sends the time left so the upstream enforces it', async () => {
    const passed = await forwarder.forward(target(node.url), { model: 'slow', version: 1, inputs: { input }, deadline: Date.now() - 1 }).catch((e: unknown) => e);
    expect(passed).toBeInstanceOf(SwitchyardError);
    expect((passed as SwitchyardError).code).toBe('DEADLINE_EXCEEDED');
    const before = (await slowStats()).stats;
    expect(before.requests).toBe(0);
    // The slow model waits 5 s for a batch: only the propagated deadline ends the wait.
    const error = await failureOf(forwarder.forward(target(node.url), { model: 'slow', version: 1, inputs: { input }, deadline: Date.now() + 300 }));
    expect(error.status).toBe(504);
    expect(error.failure).toBeUndefined();
    const after = (await slowStats()).stats;
    expect(after.rejected.deadline).toBe(1);
  });

  it('reads a version signature from the V2 metadata endpoint', async () => {
    const signature = await forwarder.metadata(target(node.url), 'linear', 1);
    expect(signature).toEqual({ inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }], outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }] });
  });
});

describe('misbehaving upstreams', () => {
  const servers: Array<Server | NetServer> = [];
  const forwarder = new UpstreamForwarder({ timeoutMs: 1_500 });
  afterAll(async () => {
    await forwarder.close();
    for (const server of servers) {
      (server as Server).closeAllConnections?.();
      server.close();
    }
  });

  it('junk bytes instead of HTTP: 502 bad-response naming the target, the answer had started', async () => {
    const junk = createNetServer((socket) => socket.end('this is not HTTP at all\r\n\r\n'));
    servers.push(junk);
    const url = await listen(junk);
    const error = await failureOf(forwarder.forward(target(url, 'junk'), { model: 'linear', version: 1, inputs: { input } }));
    expect(error.status).toBe(502);
    expect(error.code).toBe('BAD_GATEWAY');
    expect(error.message).toContain('junk');
    expect(error.failure).toBe('bad-response');
    expect(error.retryable).toBe(false);
  });

  it('a 200 whose body is no inference response: 502 bad-response', async () => {
    const html = createHttpServer((request, response) => drain(request, () => response.end('<html>hello</html>')));
    servers.push(html);
    const url = await listen(html);
    const error = await failureOf(forwarder.forward(target(url, 'html'), { model: 'linear', version: 1, inputs: { input } }));
    expect(error.status).toBe(502);
    expect(error.failure).toBe('bad-response');
    expect(error.message).toMatch(/html.*not an inference response/);
  });

  it('a 500: 502 status-5xx with the upstream message; a 503 is retryable (it did not run)', async () => {
    let status = 500;
    const failing = createHttpServer((request, response) =>
      drain(request, () => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'boom' }));
      }),
    );
    servers.push(failing);
    const url = await listen(failing);
    const error = await failureOf(forwarder.forward(target(url, 'failing'), { model: 'linear', version: 1, inputs: { input } }));
    expect(error.status).toBe(502);
    expect(error.failure).toBe('status-5xx');
    expect(error.message).toMatch(/failing.*500: boom/);
    expect(error.retryable).toBe(false);
    status = 503;
    const refused = await failureOf(forwarder.forward(target(url, 'failing'), { model: 'linear', version: 1, inputs: { input } }));
    expect(refused.failure).toBe('status-5xx');
    expect(refused.retryable).toBe(true);
  });

  it('silence: bounded by FORWARD_TIMEOUT_MS (502 timeout), never a hang', async () => {
    const silent = createHttpServer(() => undefined);
    servers.push(silent);
    const url = await listen(silent);
    const error = await failureOf(forwarder.forward(target(url, 'silent'), { model: 'linear', version: 1, inputs: { input } }));
    expect(error.status).toBe(502);
    expect(error.failure).toBe('timeout');
    expect(error.message).toMatch(/silent.*did not answer within 1500 ms/);
  });

  it('silence past the client’s own short deadline: 504 that counts against nobody (no `timeout` failure)', async () => {
    const silent = createHttpServer(() => undefined);
    servers.push(silent);
    const url = await listen(silent);
    // 300 ms left, below FORWARD_TIMEOUT_MS (1500): the client's deadline ends the wait, not the upstream's fault.
    const error = await failureOf(forwarder.forward(target(url, 'silent-short'), { model: 'linear', version: 1, inputs: { input }, deadline: Date.now() + 300 }));
    expect(error.status).toBe(504);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.failure).toBeUndefined();
    expect(error.retryable).toBe(false);
  });

  it('a closed port: 502 connect, no byte arrived so it may be retried elsewhere', async () => {
    const closed = createNetServer();
    const url = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const error = await failureOf(forwarder.forward(target(url, 'gone'), { model: 'linear', version: 1, inputs: { input } }));
    expect(error.status).toBe(502);
    expect(error.failure).toBe('connect');
    expect(error.responseStarted).toBe(false);
    expect(error.retryable).toBe(true);
  });

  it('a connection reset before any answer: 502 reset, retryable', async () => {
    const resetting = createNetServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    servers.push(resetting);
    const url = await listen(resetting);
    const error = await failureOf(forwarder.forward(target(url, 'resetting'), { model: 'linear', version: 1, inputs: { input } }));
    expect(error.failure).toBe('reset');
    expect(error.retryable).toBe(true);
  });
});

function drain(request: IncomingMessage, then: () => void): void {
  request.resume();
  request.on('end', then);
}
