/**
 * Shutdown as clients see it, on the real process: keep-alive clients under load get answers and
 * clean closes (never a reset), an idle keep-alive socket opened before the signal is answered
 * 503 with Connection: close, a response still being written is finished, SIGINT drains like
 * SIGTERM, a second signal exits 1 at once, and the drain timeout bounds the whole shutdown.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/gateway.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { identityModel, linearModel, mlpModel, MLP_SIZES } from '../support/models.js';
import { keepAliveLoad, LINEAR_BODY } from '../support/keep-alive-load.js';
import { freePort } from '../support/redis-server.js';
import { tempDir, writeRepository } from '../support/temp-dir.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let repo: string;

beforeAll(async () => {
  repo = (await tempDir('shutdown-conns')).path;
  await writeRepository(repo, { linear: { 1: linearModel(1) }, mlp: { 1: mlpModel(MLP_SIZES.heavy) }, identity: { 1: identityModel('FP32', [-1, -1]) } });
});

function start(env: Record<string, string> = {}): Promise<GatewayProcess> {
  return startGatewayProcess({ MODEL_REPO: repo, ROUTES_FILE: join(repo, 'routes.json'), REDIS_URL: '', RUNTIME_WORKERS: '1', ...env });
}

const MLP_BODY = JSON.stringify({ inputs: { input: Array.from({ length: 512 }, () => Array.from({ length: 256 }, (_, i) => (i % 5) / 5)) } });

describe('SIGTERM with keep-alive clients under load', () => {
  it.each([1, 2, 3])('try %i: no socket error, every client told to close, exit 0', async () => {
    const gateway = await start();
    let signalled = false;
    const load = keepAliveLoad(gateway.url, 32, (total) => {
      if (!signalled && total >= 300) {
        signalled = true;
        gateway.kill('SIGTERM');
      }
    });
    const result = await load;
    const code = await gateway.exited;
    expect(result.errors).toEqual([]);
    expect(result.closes).toBe(32);
    expect([...result.statuses.keys()].every((status) => status === 200 || status === 503)).toBe(true);
    expect([...result.codes503]).toEqual(result.statuses.has(503) ? ['SHUTTING_DOWN'] : []);
    expect(result.statuses.get(200)).toBeGreaterThanOrEqual(300);
    expect(code).toBe(0);
    expect(gateway.log()).toContain('"drained":true');
  });
});

/** One raw HTTP/1.1 exchange on an open socket; resolves with the head and whether the server then closed it. */
function exchange(socket: Socket, raw: string): Promise<{ head: string; body: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    const settle = (closedByServer: boolean) => () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ head, body, closedByServer });
    };
    socket.once('end', settle(true));
    socket.once('error', settle(false));
    socket.write(raw);
  });
}

it('answers an idle keep-alive socket opened before SIGTERM with 503 and Connection: close, then closes it', async () => {
  // A long grace, so the test does not race it: the socket is what ends it.
  const gateway = await start({ SHUTDOWN_IDLE_GRACE_MS: '60000' });
  const { port } = new URL(gateway.url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  const first = await new Promise<string>((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  expect(first).toMatch(/^HTTP\/1\.1 200/);
  expect(first.toLowerCase()).toContain('connection: keep-alive');

  gateway.kill('SIGTERM');
  await eventually(() => gateway.log().includes('shutdown: refusing new requests'), 10_000, 'shutdown started');
  const answer = await exchange(socket, `POST /models/linear/1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${LINEAR_BODY.length}\r\n\r\n${LINEAR_BODY}`);
  expect(answer.head).toMatch(/^HTTP\/1\.1 503/);
  expect(answer.head.toLowerCase()).toContain('connection: close');
  expect(answer.head.toLowerCase()).toContain('retry-after: 1');
  expect(answer.body).toContain('SHUTTING_DOWN');
  expect(answer.closedByServer).toBe(true);
  expect(await gateway.exited).toBe(0);
});

it('finishes writing a response the client reads slowly before it closes the socket', async () => {
  // 4M floats: a JSON answer of tens of MB, far more than the socket buffers hold.
  const gateway = await start({ BODY_LIMIT_BYTES: String(256 * 1024 * 1024) });
  const { port } = new URL(gateway.url);
  const elements = 4 * 1024 * 1024;
  const body = JSON.stringify({ inputs: { input: { shape: [1, elements], data: new Array<number>(elements).fill(0.5) } } });
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST /models/identity/1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
  socket.write(body);
  // Read only the first chunk, then stop reading while the server still writes.
  const firstChunk = await new Promise<Buffer>((resolve) =>
    socket.once('data', (chunk: Buffer) => {
      socket.pause(); // at once: a flowing socket with no listener would drop what comes next
      resolve(chunk);
    }),
  );
  const head = firstChunk.toString('latin1').split('\r\n\r\n')[0]!;
  expect(head).toMatch(/^HTTP\/1\.1 200/);
  const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? NaN);
  expect(length).toBeGreaterThan(16 * 1024 * 1024);

  gateway.kill('SIGTERM');
  await eventually(() => gateway.log().includes('shutdown: refusing new requests'), 10_000, 'shutdown started');
  // The handler has long returned; the body is still being written. Read the rest now.
  let received = firstChunk.length - head.length - 4;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  const ended = new Promise<'end' | 'error'>((resolve) => {
    socket.once('end', () => resolve('end'));
    socket.once('error', () => resolve('error'));
  });
  socket.resume();
  expect(await ended).toBe('end');
  expect(received).toBe(length);
  expect(await gateway.exited).toBe(0);
});

/** Requests the MLP version has taken so far (its per-version counter). */
async function acceptedRequests(gateway: GatewayProcess): Promise<number> {
  const model = (await (await fetch(gateway.url + '/models/mlp')).json()) as { versions: Array<{ stats?: { requests?: number } }> };
  const version = model.versions[0];
  return version?.stats?.requests ?? 0;
}

/** `count` heavy MLP requests, resolved once the gateway has taken them all: status or 'socket error'. */
async function heavyRequestsInFlight(gateway: GatewayProcess, count: number): Promise<Array<Promise<number | string>>> {
  const requests = Array.from({ length: count }, () =>
    fetch(gateway.url + '/models/mlp/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: MLP_BODY }).then(
      (r) => r.status,
      () => 'socket error',
    ),
  );
  await eventually(async () => (await acceptedRequests(gateway)) >= count, 30_000, 'all requests accepted');
  return requests;
}

describe('signals', () => {
  it('drains on SIGINT like SIGTERM', async () => {
    const gateway = await start();
    const inFlight = fetch(gateway.url + '/models/mlp/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: MLP_BODY });
    await eventually(async () => (await acceptedRequests(gateway)) >= 1, 30_000, 'request accepted');
    gateway.kill('SIGINT');
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await gateway.exited).toBe(0);
    expect(gateway.log()).toContain('"signal":"SIGINT"');
    expect(gateway.log()).toContain('"drained":true');
  });

  it('exits at once on a second signal, without waiting for the drain', async () => {
    const gateway = await start({ DRAIN_TIMEOUT_MS: '120000' });
    // Heavy requests: one worker needs many seconds for all of them.
    const requests = await heavyRequestsInFlight(gateway, 16);
    gateway.kill('SIGTERM');
    await eventually(() => gateway.log().includes('shutdown: refusing new requests'), 10_000, 'shutdown started');
    gateway.kill('SIGTERM');
    const exitCode = await gateway.exited;
    // Exit 1 when no run is inside onnxruntime at that moment; with one in flight onnxruntime-node
    // 1.30 aborts the exiting process (SIGABRT, code null) even after its threads are terminated.
    // Either way the process is gone at once and nothing of the drain ran.
    expect(exitCode).not.toBe(0);
    expect(gateway.log()).toContain('second signal: exiting without waiting');
    expect(gateway.log()).not.toContain('shutdown complete');
    const statuses = await Promise.all(requests);
    expect(statuses).toContain('socket error');
  });

  it('ends the drain at DRAIN_TIMEOUT_MS: abandons what is still running and exits', async () => {
    const gateway = await start({ DRAIN_TIMEOUT_MS: '100' });
    const requests = await heavyRequestsInFlight(gateway, 48);
    gateway.kill('SIGTERM');
    const exitCode = await gateway.exited;
    const log = gateway.log();
    expect(log, log.split('\n').slice(-6).join('\n')).toContain('shutdown: drain timeout reached');
    expect(exitCode).toBe(0);
    const timeout = JSON.parse(log.split('\n').find((line) => line.includes('shutdown: drain timeout reached'))!) as { abandoned: number };
    expect(timeout.abandoned).toBeGreaterThan(0);
    expect(log).toContain('"drained":false');
    const statuses = await Promise.all(requests);
    expect(statuses.filter((s) => s === 'socket error').length).toBe(timeout.abandoned);
  });
});

describe('listening', () => {
  it('exits 1 with a clear message when the port is already in use', async () => {
    const holder = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'main.ts')], {
        cwd: root,
        env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MODEL_REPO: repo, ROUTES_FILE: join(repo, 'routes.json'), REDIS_URL: '', LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(1);
      expect(stderr).toContain(`cannot listen on 127.0.0.1:${port}: the address is already in use`);
    } finally {
      holder.close();
    }
  });
});
