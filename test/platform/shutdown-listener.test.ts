/**
 * Shutdown step 1 of the README: once shutdown begins the listener takes no new connections,
 * while a keep-alive socket opened before is still answered (503, Connection: close). The other
 * shutdown steps are held by test/integration/shutdown*.test.ts.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { startTestGateway } from '../support/gateway.js';

function tryConnect(port: number): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

it('refuses new connections from the moment shutdown begins, and still answers a socket opened before', async () => {
  // A long idle grace: the open socket, not a timer, is what ends the shutdown.
  const t = await startTestGateway({ env: { SHUTDOWN_IDLE_GRACE_MS: '60000' } });
  const port = Number(new URL(t.url).port);
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  let received = '';
  socket.on('data', (chunk: string) => (received += chunk));
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(socket, 'data');

  const shutdown = t.gateway.shutdown();
  expect(await tryConnect(port)).toBe('ECONNREFUSED');

  received = '';
  const ended = once(socket, 'end');
  socket.write('GET /models HTTP/1.1\r\nHost: x\r\n\r\n');
  await ended;
  expect(received).toMatch(/^HTTP\/1\.1 503 /);
  expect(received.toLowerCase()).toContain('connection: close');
  expect(received).toContain('SHUTTING_DOWN');
  expect(await shutdown).toEqual({ drained: true, abandoned: 0 });
});
