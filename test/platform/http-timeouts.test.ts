/**
 * Slow clients cannot hold a socket (README, Shutdown): a request whose headers or body trickle
 * in a byte at a time is cut by HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS with a 408 and
 * a closed socket, while the same trickle under the default timeouts is answered. Raw sockets, so
 * the test controls every byte; the verdict is what the socket saw, never how long it took.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LINEAR_INPUT, sleep, startTestGateway } from '../support/gateway.js';

/** Pause between two trickled bytes: each one alone arrives long before any timeout. */
const BYTE_GAP_MS = 50;

interface TrickleResult {
  /** Bytes of `payload` written before the server closed the socket (all of them if it never did). */
  readonly sent: number;
  /** Everything the server wrote back. */
  readonly answer: string;
  /** True when the server ended or reset the connection. */
  readonly closedByServer: boolean;
}

/**
 * Writes `prefix` at once, then `payload` one byte per BYTE_GAP_MS, and stops when the server
 * closes the socket or (payload complete) when it answered.
 */
async function trickle(url: string, prefix: string, payload: string): Promise<TrickleResult> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  let closedByServer = false;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (answer += chunk));
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closedByServer = true;
      resolve();
    });
  });
  socket.on('error', () => {}); // a reset counts as closed
  socket.write(prefix);
  let sent = 0;
  while (sent < payload.length && !closedByServer) {
    await sleep(BYTE_GAP_MS);
    if (closedByServer || socket.destroyed) break;
    socket.write(payload[sent]!);
    sent++;
  }
  if (!closedByServer) {
    // The whole request went out: wait for an answer's end (the request says Connection: close).
    await closed;
  }
  return { sent, answer, closedByServer };
}

const body = JSON.stringify(LINEAR_INPUT);
const bodyHead = `POST /models/linear/1/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
const headers = `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

describe('a body trickling in', () => {
  it('is cut by HTTP_REQUEST_TIMEOUT_MS: 408 and a closed socket before the body is complete', async () => {
    const t = await startTestGateway({ env: { HTTP_HEADERS_TIMEOUT_MS: '200', HTTP_REQUEST_TIMEOUT_MS: '300' } });
    const result = await trickle(t.url, bodyHead, body);
    expect(result.closedByServer).toBe(true);
    expect(result.sent).toBeLessThan(body.length);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('is answered under the default timeouts', async () => {
    const t = await startTestGateway();
    const result = await trickle(t.url, bodyHead, body);
    expect(result.sent).toBe(body.length);
    expect(result.answer).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('headers trickling in', () => {
  it('are cut by HTTP_HEADERS_TIMEOUT_MS even when the request timeout is far away', async () => {
    const t = await startTestGateway({ env: { HTTP_HEADERS_TIMEOUT_MS: '300' } });
    const result = await trickle(t.url, '', headers);
    expect(result.closedByServer).toBe(true);
    expect(result.sent).toBeLessThan(headers.length);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('are answered under the default timeouts', async () => {
    const t = await startTestGateway();
    const result = await trickle(t.url, '', headers);
    expect(result.sent).toBe(headers.length);
    expect(result.answer).toMatch(/^HTTP\/1\.1 200 /);
  });
});
