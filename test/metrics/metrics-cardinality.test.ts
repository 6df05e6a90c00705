/**
 * The number of series in /metrics stays bounded whatever clients send, and what a deleted
 * version leaves behind goes away. Through the real gateway: random unknown model names, aliases
 * and versions on both protocols add no series once each kind of answer has been seen; deleting
 * a version's folder (and a whole model's) removes its series from /metrics, and the batcher and
 * the policy cache hold nothing for it any more.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { LINEAR_V2_INPUT, linearModel } from '../support/models.js';
import { parseExposition, type Sample } from './prometheus-text.js';

/** Our series, without prom-client's process metrics (their count is the runtime's, not ours). */
async function series(t: TestGateway): Promise<Sample[]> {
  const samples = parseExposition(await (await t.get('/metrics')).text());
  return samples.filter((s) => !s.name.startsWith('switchyard_process_') && !s.name.startsWith('switchyard_nodejs_'));
}

const random = () => randomBytes(6).toString('hex');
const randomVersion = () => String(100 + Math.floor(Math.random() * 1_000_000));

/** One request of every kind a client can make up: unknown names, aliases and versions, both protocols. */
async function madeUpTraffic(t: TestGateway): Promise<number[]> {
  const requests = [
    t.post(`/models/m${random()}/predict`, LINEAR_INPUT),
    t.post(`/models/m${random()}/1/predict`, LINEAR_INPUT),
    t.post(`/models/linear/a${random()}/predict`, LINEAR_INPUT),
    t.post(`/models/linear/${randomVersion()}/predict`, LINEAR_INPUT),
    t.post(`/v2/models/m${random()}/infer`, { inputs: [LINEAR_V2_INPUT] }),
    t.post(`/v2/models/linear/versions/${randomVersion()}/infer`, { inputs: [LINEAR_V2_INPUT] }),
    t.post(`/v2/models/m${random()}/versions/a${random()}/infer`, { inputs: [LINEAR_V2_INPUT] }),
  ];
  return Promise.all(requests.map(async (request) => {
    const response = await request;
    await response.arrayBuffer();
    return response.status;
  }));
}

it('keeps the series count bounded under made-up names, aliases and versions', async () => {
  const t = await startTestGateway();
  expect((await t.post('/models/linear/1/predict', LINEAR_INPUT)).status).toBe(200);
  // Every kind of answer once, then many more of the same kinds: not one series more.
  const statuses = await madeUpTraffic(t);
  expect(statuses.every((status) => status >= 400 && status < 500)).toBe(true);
  const before = (await series(t)).length;
  for (let round = 0; round < 30; round++) expect(await madeUpTraffic(t)).toEqual(statuses);
  const after = await series(t);
  expect(after.length).toBe(before);
  const labelValues = new Set(after.flatMap((s) => [s.labels.model, s.labels.version]));
  expect([...labelValues].filter((value) => value !== undefined && /^(m|a)[0-9a-f]{12}$|^\d{3,}$/.test(value))).toEqual([]);
});

it('drops the series, the queue and the policy of a deleted version, and the model-level series of a deleted model', async () => {
  const t = await startTestGateway({ models: { linear: { 1: linearModel(1), 2: linearModel(2) }, other: { 1: linearModel(3) } } });
  const { scheduler, policies } = t.gateway;
  await Promise.all(
    ['/models/linear/1/predict', '/models/linear/2/predict', '/models/other/1/predict'].flatMap((path) =>
      Array.from({ length: 8 }, async () => expect((await t.post(path, LINEAR_INPUT)).status).toBe(200)),
    ),
  );
  expect((await t.post('/v2/models/linear/versions/2/infer', { inputs: [LINEAR_V2_INPUT] })).status).toBe(200);
  const of = (samples: Sample[], labels: Record<string, string>) =>
    samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  const linear2 = { model: 'linear', version: '2' };
  const first = await series(t);
  const names = new Set(of(first, linear2).map((s) => s.name));
  for (const name of ['switchyard_requests_total', 'switchyard_inference_executions_total', 'switchyard_batch_splits_total', 'switchyard_model_state', 'switchyard_queue_depth']) {
    expect(names).toContain(name);
  }
  expect(of(first, { model: 'other' }).some((s) => s.name === 'switchyard_model_load_duration_seconds_count')).toBe(true);
  expect(scheduler.counters('linear', 2)?.requests).toBe(9);
  expect(policies.size).toBe(3);

  await rm(join(t.repo, 'linear', '2'), { recursive: true, force: true });
  await rm(join(t.repo, 'other'), { recursive: true, force: true });
  await eventually(() => t.gateway.registry.status('linear', 2) === undefined && !t.gateway.registry.has('other'), 10_000, 'versions unloaded');

  const left = await series(t);
  expect(of(left, linear2)).toEqual([]);
  expect(of(left, { model: 'other' })).toEqual([]);
  expect(of(left, { model: 'linear', version: '1' }).length).toBeGreaterThan(0);
  expect(scheduler.versionCount).toBe(1);
  expect(scheduler.counters('linear', 2)).toBeUndefined();
  expect(policies.size).toBe(1);

  // The deleted version answers 404 now, and that brings none of its series back.
  expect((await t.post('/models/linear/2/predict', LINEAR_INPUT)).status).toBe(404);
  expect(of(await series(t), linear2)).toEqual([]);
  expect(scheduler.versionCount).toBe(1);
});
