/**
 * SIGTERM on the real process with requests in flight: every accepted request completes, new ones
 * get 503, sessions are released and the process exits 0.
 */
import { expect, it } from 'vitest';
import { startGatewayProcess } from '../support/gateway-process.js';
import { eventually } from '../support/gateway.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';
import { mlpModel, MLP_SIZES } from '../support/models.js';

it('finishes every in-flight request on SIGTERM and exits 0', async () => {
  const gateway = await startGatewayProcess({ RUNTIME_WORKERS: '1' }, { models: { mlp: { 1: mlpModel(MLP_SIZES.heavy) } } });
  const url = gateway.url;
  const row = Array.from({ length: 256 }, (_, i) => (i % 5) / 5);
  const body = JSON.stringify({ inputs: { input: Array.from({ length: 512 }, () => row) } });
  let answered = 0;
  const requests = Array.from({ length: 12 }, () =>
    fetch(url + '/models/mlp/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => {
      answered += 1;
      return { status: r.status, rows: ((await r.json()) as { outputs?: { output: unknown[] } }).outputs?.output.length };
    }),
  );
  // Small bodies, heavy compute: all are accepted at once, then one worker runs them one by one
  // (seconds in all), so the signal arrives with most of them still in flight. Signal once the
  // gateway has accepted all 12, in flight or answered (a request still on its way at the signal
  // rightly gets 503).
  await eventually(async () => {
    const text = await (await fetch(url + '/metrics')).text();
    return (valueOf(parseExposition(text), 'switchyard_requests_in_flight') ?? 0) + answered >= 12;
  }, 20_000, 'all 12 requests accepted');
  gateway.kill('SIGTERM');
  await eventually(() => gateway.log().includes('shutdown: refusing new requests'), 5_000, 'shutdown started');
  const late = await fetch(url + '/models/mlp/1/predict', { method: 'POST', body }).catch(() => undefined);
  const results = await Promise.all(requests);
  const code = await gateway.exited;
  const log = gateway.log();

  if (process.env.DEBUG_SHUTDOWN) console.log(log, results);
  const drainLine = JSON.parse(log.split('\n').find((l) => l.includes('shutdown: refusing new requests'))!) as { inFlight: number };
  expect(drainLine.inFlight).toBeGreaterThan(0);
  expect(results).toEqual(Array.from({ length: 12 }, () => ({ status: 200, rows: 512 })));
  if (late) expect(late.status).toBe(503);
  expect(log).toContain('"event":"unloaded"');
  expect(log).toContain('"drained":true');
  expect(code).toBe(0);
});
