/**
 * /readyz is 503 with each reason the README documents: while the first scan and loads run, while
 * the routing source has never been reachable, and from the moment shutdown begins; and 200 once
 * none applies. Real gateways on real HTTP; Redis is a private redis-server started late.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, startTestGateway } from '../support/gateway.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

interface Readiness {
  readonly status: number;
  readonly body: { ready: boolean; reasons: string[]; warnings?: string[] };
}

async function readyz(url: string): Promise<Readiness> {
  const response = await fetch(url + '/readyz');
  return { status: response.status, body: (await response.json()) as Readiness['body'] };
}

it('is 503 "repository: initial scan and loads not finished" until the first scan and loads are done', async () => {
  const t = await startTestGateway({ listenOnly: true });
  expect(await readyz(t.url)).toEqual({ status: 503, body: { ready: false, reasons: ['repository: initial scan and loads not finished'] } });
  await t.gateway.loadRepository();
  expect(await readyz(t.url)).toEqual({ status: 200, body: { ready: true, reasons: [] } });
});

it('is 503 "routing: redis source not reachable yet (...)" while Redis has never answered, 200 once it does', async () => {
  // Nobody listens on this port yet.
  const port = await freePort();
  const t = await startTestGateway({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  const before = await readyz(t.url);
  expect(before.status).toBe(503);
  expect(before.body.ready).toBe(false);
  expect(before.body.reasons).toHaveLength(1);
  expect(before.body.reasons[0]).toMatch(/^routing: redis source not reachable yet \(.+\)$/);

  const redis = await startRedisServer(port);
  cleanupAfter(() => redis.stop());
  await eventually(async () => (await readyz(t.url)).status === 200, 20_000, 'ready once Redis answers');
  // The static backends read Redis on their own schedule: their stale warning goes at their next read.
  await eventually(async () => (await readyz(t.url)).body.warnings === undefined, 20_000, 'no warning once the backends read Redis');
  expect(await readyz(t.url)).toEqual({ status: 200, body: { ready: true, reasons: [] } });
  await t.close(); // while its Redis still runs
});

it('is 503 "closing: the gateway is shutting down" from the moment shutdown begins', async () => {
  // A long idle grace keeps the shutdown open while the test asks on its keep-alive socket
  // (the listener takes no new connections by then).
  const t = await startTestGateway({ env: { SHUTDOWN_IDLE_GRACE_MS: '60000' } });
  const { port } = new URL(t.url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  let received = '';
  socket.on('data', (chunk: string) => (received += chunk));
  const ended = once(socket, 'end');
  socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
  await eventually(() => received.includes('"ready":true'), 10_000, 'ready before shutdown');

  received = '';
  const shutdown = t.gateway.shutdown();
  expect(t.gateway.gate.closing).toBe(true);
  socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
  await ended;
  const [head = '', body = ''] = received.split('\r\n\r\n');
  expect(head).toMatch(/^HTTP\/1\.1 503 /);
  expect(head.toLowerCase()).toContain('connection: close');
  expect(JSON.parse(body)).toEqual({ ready: false, reasons: ['closing: the gateway is shutting down'] });
  expect(await shutdown).toEqual({ drained: true, abandoned: 0 });
});
