/**
 * One bad request must not fail the requests it was batched with. Through the real gateway and
 * worker pool: a lookup model whose run fails on an index out of its table (a data-dependent
 * failure onnxruntime reports for the whole merged batch), several good requests and one bad one
 * queued into a single batch. The batcher reruns each alone: the good ones get their values, the
 * bad one its own onnxruntime error, and the split is counted in the stats and in /metrics.
 */
import { afterEach, expect, it } from 'vitest';
import { lookupValue } from '../../tools/model-builder/index.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { lookupModel } from '../support/models.js';

let t: TestGateway | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const GOOD = [0, 3, 5, 7];
const BAD = 8; // the table has 8 entries: 0..7

it('reruns a merged batch that onnxruntime rejected one request at a time: only the bad one fails', async () => {
  // max_batch_size 5 with a long queue delay: the batch runs exactly when the fifth request has
  // queued, so all five share it (no timing involved).
  t = await startTestGateway({ models: { lookup: { 1: lookupModel(8) } } });
  const gateway = t;
  await gateway.writeModelConfig('lookup', { max_batch_size: 5, max_queue_delay_ms: 60_000 });
  await eventually(() => gateway.gateway.policies.policyFor('lookup', 1).maxQueueDelayMs === 60_000, 10_000, 'config applied');

  const send = (index: number) => gateway.post('/models/lookup/1/predict', { inputs: { index: [[index]] } });
  const good = GOOD.map((index) => send(index));
  await eventually(() => gateway.gateway.scheduler.queued('lookup', 1) === GOOD.length, 10_000, 'good requests queued');
  const bad = send(BAD);

  const answers = await Promise.all(good);
  for (const [i, response] of answers.entries()) {
    expect(response.status).toBe(200);
    expect(((await response.json()) as { outputs: { value: number[][] } }).outputs.value).toEqual([[lookupValue(GOOD[i]!)]]);
  }
  const error = await expectError(bad, 500, 'INFERENCE_FAILED', /idx=8/);
  expect(error.message).toMatch(/out of data bounds/);

  const counters = gateway.gateway.scheduler.counters('lookup', 1)!;
  expect(counters).toMatchObject({ requests: 5, successes: 4, failures: 1, splits: 1 });
  // The merged run failed; then each of the five ran alone, and the four good runs are the
  // executions (failed runs are counted as failures, not executions).
  expect(counters.executions).toBe(4);
  expect(counters.inferredRows).toBe(4);

  const samples = parseExposition(await (await gateway.get('/metrics')).text());
  expect(valueOf(samples, 'switchyard_batch_splits_total', { model: 'lookup', version: '1' })).toBe(1);
  expect(valueOf(samples, 'switchyard_inference_executions_total', { model: 'lookup', version: '1' })).toBe(4);

  const view = (await (await gateway.get('/models/lookup')).json()) as { versions: Array<{ stats: { splits: number } }> };
  expect(view.versions[0]!.stats.splits).toBe(1);
});
