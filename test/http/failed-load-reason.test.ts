/**
 * A version whose only load failed answers 503 with the failure's reason, on every path a client
 * may take to it (issue 12 item 9): native predict by version and by the default route (`latest`),
 * V2 infer, readiness and metadata, with and without a version. The reason is the one
 * GET /models/<name> shows, onnxruntime's own message.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError, expectV2Error } from '../support/http.js';
import { LINEAR_V2_INPUT, linearModel } from '../support/models.js';

const GARBAGE = new TextEncoder().encode('this is not an onnx model, it is a sentence');

let t: TestGateway;
let reason: string;

beforeAll(async () => {
  t = await startTestGateway({ models: { broken: { 1: GARBAGE }, linear: { 1: linearModel(1) } } });
  const described = (await (await t.get('/models/broken')).json()) as { versions: Array<{ state: string; reason?: string }> };
  expect(described.versions).toEqual([expect.objectContaining({ state: 'FAILED', reason: expect.stringContaining('onnxruntime could not load') })]);
  reason = described.versions[0]!.reason!;
});

describe('native', () => {
  for (const path of ['/models/broken/predict', '/models/broken/1/predict']) {
    it(`POST ${path} answers 503 VERSION_NOT_READY with the reason`, async () => {
      const error = await expectError(t.post(path, LINEAR_INPUT), 503, 'VERSION_NOT_READY', reason);
      expect(error.message).toContain('FAILED');
    });
  }
});

describe('V2', () => {
  for (const path of ['/v2/models/broken/infer', '/v2/models/broken/versions/1/infer']) {
    it(`POST ${path} answers 503 with the reason`, async () => {
      await expectV2Error(t.post(path, { inputs: [LINEAR_V2_INPUT] }), 503, reason);
    });
  }
  for (const path of ['/v2/models/broken', '/v2/models/broken/versions/1']) {
    it(`GET ${path} answers 503 with the reason`, async () => {
      await expectV2Error(t.get(path), 503, reason);
    });
  }
  for (const path of ['/v2/models/broken/ready', '/v2/models/broken/versions/1/ready']) {
    it(`GET ${path} is not ready and says why`, async () => {
      const response = await t.get(path);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { ready: boolean; error: string };
      expect(body.ready).toBe(false);
      expect(body.error).toContain(reason);
    });
  }
});
