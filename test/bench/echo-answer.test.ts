/**
 * The bare-Hono binary echo, the baseline of the V2 binary benchmark, must move as many bytes as
 * Switchyard's answer: the answer arithmetic, and the real server answering a real binary request.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wideBinaryBody } from '../../bench/scenarios/open-inference-protocol.js';
import { echoAnswer } from '../../bench/support/echo-answer.js';
import { startServerProcess, type ServerProcess } from '../../bench/support/server-process.js';

describe('echoAnswer', () => {
  const received = Uint8Array.from([1, 2, 3, 4, 5]);

  it('keeps the last bytes (no copy) when the answer is shorter than the request', () => {
    const answer = echoAnswer(received, 3);
    expect([...answer]).toEqual([3, 4, 5]);
    expect(answer.buffer).toBe(received.buffer);
    expect(echoAnswer(received, 5)).toHaveLength(5);
    expect(echoAnswer(received, 0)).toHaveLength(0);
  });

  it('puts zeros first when the answer is longer than the request', () => {
    expect([...echoAnswer(received, 7)]).toEqual([0, 0, 1, 2, 3, 4, 5]);
  });

  it('refuses a size that is not a non-negative integer', () => {
    expect(() => echoAnswer(received, -1)).toThrow(RangeError);
    expect(() => echoAnswer(received, 1.5)).toThrow(/non-negative integer, got 1.5/);
  });
});

describe('bare Hono binary echo server', () => {
  let server: ServerProcess;
  const request = wideBinaryBody();
  const answerBytes = request.body.length + 9;

  beforeAll(async () => {
    server = await startServerProcess({
      script: fileURLToPath(new URL('../../bench/servers/bare-hono-server.ts', import.meta.url)),
      nodeArgs: ['--import', 'tsx'],
      args: [String(answerBytes), '150'],
    });
  });
  afterAll(() => server?.stop());

  it("answers the configured number of bytes, the request's bytes last, with the V2 binary headers", async () => {
    const response = await fetch(server.url + '/v2/models/wide/versions/1/infer', { method: 'POST', headers: request.headers, body: request.body });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('inference-header-content-length')).toBe('150');
    const answer = Buffer.from(await response.arrayBuffer());
    expect(answer.length).toBe(answerBytes);
    expect(answer.subarray(9).equals(request.body)).toBe(true);
  });
});
