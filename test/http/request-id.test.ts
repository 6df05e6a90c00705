/** Request ids flow from the x-request-id header to the log line of an error and back to the client. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { captureLog } from '../support/log-capture.js';
import { LINEAR_V2_INPUT } from '../support/models.js';

const log = captureLog();
const lines = log.lines;
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ logger: log.logger });
});
afterAll(() => t.close());

it('returns the client request id on answers, native and V2, success and error', async () => {
  const ok = await t.post('/models/linear/1/predict', LINEAR_INPUT, { 'x-request-id': 'client-id-1' });
  expect(ok.status).toBe(200);
  expect(ok.headers.get('x-request-id')).toBe('client-id-1');
  const v2 = await t.post('/v2/models/linear/infer', { inputs: [LINEAR_V2_INPUT] }, { 'x-request-id': 'client-id-2' });
  expect(v2.headers.get('x-request-id')).toBe('client-id-2');
  const health = await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': 'client-id-3' } });
  expect(health.headers.get('x-request-id')).toBe('client-id-3');
});

it('writes the request id on the log line of an error, and answers with the same id', async () => {
  const bad = await t.post('/models/linear/1/predict', { inputs: { input: [[1, 2]] } }, { 'x-request-id': 'trace-abc' });
  expect(bad.headers.get('x-request-id')).toBe('trace-abc');
  await expectError(bad, 400, 'INVALID_INPUT');
  const line = lines.find((l) => l.requestId === 'trace-abc');
  expect(line).toMatchObject({ requestId: 'trace-abc', code: 'INVALID_INPUT', status: 400, path: '/models/linear/1/predict' });
});

it('generates an id when none (or an unusable one) is sent', async () => {
  const generated = await t.post('/models/linear/1/predict', LINEAR_INPUT);
  expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  const replaced = await t.post('/models/linear/1/predict', LINEAR_INPUT, { 'x-request-id': 'has spaces and\ttabs' });
  expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
});

it('logs lifecycle events one line each', () => {
  expect(lines.some((l) => l.event === 'loaded' && l.model === 'linear' && l.version === 1)).toBe(true);
});
