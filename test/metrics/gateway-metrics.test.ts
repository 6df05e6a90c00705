/**
 * GET /metrics over real HTTP after known traffic: request counts by status and protocol,
 * executions vs rows, model states, swaps and load failures from real file writes, routing and
 * process series, and no unknown model name ever used as a label value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { parseExposition, samplesOf, valueOf, type Sample } from './prometheus-text.js';

async function scrape(t: TestGateway): Promise<{ samples: Sample[]; text: string; contentType: string | null }> {
  const response = await fetch(`${t.url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return { samples: parseExposition(text), text, contentType: response.headers.get('content-type') };
}

describe('GET /metrics', () => {
  let t: TestGateway;
  beforeAll(async () => {
    // A route cache that outlives the file: its hits and misses are then a count, not a race with its lifetime.
    t = await startTestGateway({ env: { ROUTE_CACHE_TTL_MS: '600000' } });
  });
  afterAll(() => t.close());

  it('counts known traffic by model, version, protocol and status', async () => {
    // Sequential on purpose: every request runs as its own batch, so the counts are exact.
    const answers: number[] = [];
    const send = async (path: string, body: unknown) => {
      const response = await t.post(path, body);
      await response.arrayBuffer();
      answers.push(response.status);
    };
    await send('/models/linear/1/predict', LINEAR_INPUT);
    await send('/models/linear/1/predict', LINEAR_INPUT);
    await send('/models/linear/1/predict', { inputs: { input: [[1, 2, 3, 4], [0, 0, 0, 1], [1, 1, 1, 1]] } });
    await send('/models/linear/predict', LINEAR_INPUT);
    await send('/models/linear/predict', LINEAR_INPUT);
    await send('/v2/models/linear/versions/1/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    await send('/models/linear/1/predict', { inputs: { input: [[1, 2, 3]] } });
    await send('/models/linear/1/predict', { inputs: { wrong_name: [[1, 2, 3, 4]] } });
    await send('/models/no_such_model/predict', LINEAR_INPUT);
    expect(answers).toEqual([200, 200, 200, 200, 200, 200, 400, 400, 404]);

    const { samples, text, contentType } = await scrape(t);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);

    const requests = 'switchyard_requests_total';
    expect(valueOf(samples, requests, { model: 'linear', version: '1', protocol: 'native', status: '200' })).toBe(5);
    expect(valueOf(samples, requests, { model: 'linear', version: '1', protocol: 'native', status: '400' })).toBe(2);
    expect(valueOf(samples, requests, { model: 'linear', version: '1', protocol: 'v2', status: '200' })).toBe(1);
    expect(valueOf(samples, requests, { model: '_unknown', version: '', protocol: 'native', status: '404' })).toBe(1);
    expect(samplesOf(samples, requests).reduce((sum, s) => sum + s.value, 0)).toBe(9);

    const duration = 'switchyard_request_duration_seconds_count';
    expect(valueOf(samples, duration, { model: 'linear', version: '1', protocol: 'native', status_class: '2xx' })).toBe(5);
    expect(valueOf(samples, duration, { model: 'linear', version: '1', protocol: 'native', status_class: '4xx' })).toBe(2);

    // 6 executions carried 8 rows (one request had 3); failed decodes never reach the batcher.
    const linear1 = { model: 'linear', version: '1' };
    expect(valueOf(samples, 'switchyard_inference_executions_total', linear1)).toBe(6);
    expect(valueOf(samples, 'switchyard_inference_rows_total', linear1)).toBe(8);
    expect(valueOf(samples, 'switchyard_batch_size_rows_count', linear1)).toBe(6);
    expect(valueOf(samples, 'switchyard_batch_size_rows_sum', linear1)).toBe(8);
    expect(valueOf(samples, 'switchyard_batch_size_rows_bucket', { ...linear1, le: '2' })).toBe(5);
    expect(valueOf(samples, 'switchyard_queue_duration_seconds_count', linear1)).toBe(6);
    expect(valueOf(samples, 'switchyard_compute_duration_seconds_count', linear1)).toBe(6);
    expect(valueOf(samples, 'switchyard_queue_depth', linear1)).toBe(0);
    // /metrics itself is not counted in flight.
    expect(valueOf(samples, 'switchyard_requests_in_flight')).toBe(0);

    expect(valueOf(samples, 'switchyard_model_state', { ...linear1, state: 'READY' })).toBe(1);
    expect(samplesOf(samples, 'switchyard_model_state', linear1).filter((s) => s.value === 1)).toHaveLength(1);
    expect(valueOf(samples, 'switchyard_model_load_duration_seconds_count', { model: 'linear', result: 'success' })).toBe(1);

    // The two unversioned predicts resolved `latest` through the route cache: the first read the
    // table (a miss), the second found it (a hit). Versioned paths and unknown models never route.
    const cache = { hits: valueOf(samples, 'switchyard_route_cache_hits_total'), misses: valueOf(samples, 'switchyard_route_cache_misses_total') };
    expect(cache).toEqual({ hits: 1, misses: 1 });
    expect(t.gateway.router.status().cache).toMatchObject(cache);
    expect(valueOf(samples, 'switchyard_routing_source_connected', { source: 'file' })).toBe(1);

    expect(valueOf(samples, 'switchyard_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'switchyard_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);

    // Unknown names never become label values; every metric is ours.
    expect(text).not.toContain('no_such_model');
    expect(text).not.toContain('wrong_name');
    for (const sample of samples) expect(sample.name.startsWith('switchyard_')).toBe(true);
  });

  it('follows swaps and load failures from the model files', async () => {
    await t.writeLinear('linear', 1, 2);
    await eventually(
      async () => valueOf((await scrape(t)).samples, 'switchyard_model_swaps_total', { model: 'linear', version: '1' }) === 1,
      10_000,
      'a swap counted',
    );
    const served = await t.post('/models/linear/1/predict', LINEAR_INPUT);
    expect(((await served.json()) as { outputs: { output: number[][] } }).outputs.output).toEqual([[10, 3]]);

    await t.writeModel('linear', 2, Buffer.from('this is not an onnx model, just bytes'));
    await eventually(
      async () => valueOf((await scrape(t)).samples, 'switchyard_model_load_failures_total', { model: 'linear', version: '2' }) === 1,
      10_000,
      'a load failure counted',
    );
    const { samples } = await scrape(t);
    expect(valueOf(samples, 'switchyard_model_state', { model: 'linear', version: '2', state: 'FAILED' })).toBe(1);
    expect(valueOf(samples, 'switchyard_model_state', { model: 'linear', version: '2', state: 'LOADING' })).toBe(0);
    expect(valueOf(samples, 'switchyard_model_state', { model: 'linear', version: '1', state: 'READY' })).toBe(1);
    expect(valueOf(samples, 'switchyard_model_load_duration_seconds_count', { model: 'linear', result: 'failure' })).toBe(1);
    expect(valueOf(samples, 'switchyard_model_load_duration_seconds_count', { model: 'linear', result: 'success' })).toBe(2);
  });

  it('counts rate-limit refusals with unknown models folded into _unknown', async () => {
    t.gateway.metrics!.rateLimited('linear', 'client');
    t.gateway.metrics!.rateLimited('linear', 'client');
    t.gateway.metrics!.rateLimited('not_a_model', 'model');
    const { samples, text } = await scrape(t);
    expect(valueOf(samples, 'switchyard_rate_limited_total', { model: 'linear', scope: 'client' })).toBe(2);
    expect(valueOf(samples, 'switchyard_rate_limited_total', { model: '_unknown', scope: 'model' })).toBe(1);
    expect(text).not.toContain('not_a_model');
  });
});

it('METRICS_ENABLED=false serves no /metrics and records nothing', async () => {
  const t = await startTestGateway({ env: { METRICS_ENABLED: 'false' } });
  try {
    expect(t.gateway.metrics).toBeUndefined();
    const predicted = await t.post('/models/linear/1/predict', LINEAR_INPUT);
    expect(predicted.status).toBe(200);
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
  } finally {
    await t.close();
  }
});

it('lists every metric it exposes in the README Metrics table, and nothing else', async () => {
  const { readFileSync } = await import('node:fs');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('\n## ', readme.indexOf('## Metrics') + 1));
  const documented = new Set([...section.matchAll(/^\| `(switchyard_[a-z_]+)` \|/gm)].map((m) => m[1]!));
  // With Redis, so that the async job series (queue-wide counts) exist too.
  const t = await startTestGateway({ redis: true });
  try {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    const exposed = [...text.matchAll(/^# TYPE (switchyard_[a-z_]+) /gm)]
      .map((m) => m[1]!)
      .filter((name) => !name.startsWith('switchyard_process_') && !name.startsWith('switchyard_nodejs_'));
    expect(exposed.length).toBeGreaterThan(10);
    expect(new Set(exposed)).toEqual(documented);
  } finally {
    await t.close();
  }
});
