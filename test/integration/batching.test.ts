/**
 * Batching, queues and per-model config.json through the real gateway: config validation and
 * reload, deadlines and disconnects over HTTP, and swaps plus config changes under batched load.
 */
import { expect, it, onTestFinished } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectError } from '../support/http.js';
import { linearAnswer } from '../support/models.js';

interface ModelView {
  config: Record<string, unknown>;
  config_error?: string;
  versions: Array<{
    version: number;
    stats: { requests: number; executions: number; average_batch_size: number; rejected: { queue_full: number; deadline: number; cancelled: number } };
  }>;
}

async function view(gateway: TestGateway, name = 'linear'): Promise<ModelView> {
  return (await (await fetch(`${gateway.url}/models/${name}`)).json()) as ModelView;
}


it('batches concurrent HTTP requests: fewer executions than requests, right answers', async () => {
  const gateway = await startTestGateway();
  const answers = await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const response = await gateway.post('/models/linear/1/predict', { inputs: { input: [[i, 0, 0, 0]] } });
      return { i, body: (await response.json()) as { outputs: { output: number[][] } } };
    }),
  );
  for (const { i, body } of answers) expect(body.outputs.output, `request ${i}`).toEqual(linearAnswer(1, [[i, 0, 0, 0]]));
  const stats = (await view(gateway)).versions[0]!.stats;
  expect(stats.requests).toBe(64);
  expect(stats.executions).toBeLessThan(64);
  expect(stats.average_batch_size).toBeGreaterThan(1);
});

it('validates config.json with a clear error, keeps the last good one, and applies a good one', async () => {
  const gateway = await startTestGateway();
  await gateway.writeModelConfig('linear', { max_batch_size: 0 });
  await eventually(async () => (await view(gateway)).config.max_batch_size === 0, 10_000, 'config applied');

  await gateway.writeModelConfig('linear', { max_batch_size: -3, instanses: 2 });
  await eventually(async () => (await view(gateway)).config_error !== undefined, 10_000, 'config refused');
  const refused = await view(gateway);
  expect(refused.config_error).toContain('max_batch_size');
  expect(refused.config_error).toContain('instanses');
  expect(refused.config).toEqual({ max_batch_size: 0 });

  await gateway.writeModelConfig('linear', '{ not json');
  await eventually(async () => (await view(gateway)).config_error?.includes('not valid JSON') === true, 10_000, 'bad JSON refused');

  // Batching off: every request runs alone.
  await Promise.all(Array.from({ length: 16 }, () => gateway.post('/models/linear/1/predict', LINEAR_INPUT)));
  const stats = (await view(gateway)).versions[0]!.stats;
  expect(stats.executions).toBe(stats.requests);

  await gateway.writeModelConfig('linear', { max_batch_size: 8, max_queue_delay_ms: 1 });
  await eventually(async () => (await view(gateway)).config_error === undefined, 10_000, 'good config applied');
  expect((await view(gateway)).config).toEqual({ max_batch_size: 8, max_queue_delay_ms: 1 });
});

it('answers 504 to a request whose deadline passes while queued, and drops a disconnected client', async () => {
  const gateway = await startTestGateway();
  // A long queue delay keeps lone requests waiting for company: the deadline and the disconnect happen first.
  await gateway.writeModelConfig('linear', { max_queue_delay_ms: 2000, max_batch_size: 64 });
  await eventually(async () => (await view(gateway)).config.max_queue_delay_ms === 2000, 10_000, 'config applied');

  await expectError(gateway.post('/models/linear/1/predict', LINEAR_INPUT, { 'x-request-timeout-ms': '50' }), 504, 'DEADLINE_EXCEEDED');

  const controller = new AbortController();
  const abandoned = fetch(`${gateway.url}/models/linear/1/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(LINEAR_INPUT),
    signal: controller.signal,
  }).catch(() => undefined);
  await eventually(() => gateway.gateway.scheduler.queued('linear', 1) === 1, 5_000, 'request queued');
  controller.abort();
  await abandoned;
  await eventually(() => gateway.gateway.scheduler.queued('linear', 1) === 0, 5_000, 'request dropped');

  const stats = (await view(gateway)).versions[0]!.stats;
  expect(stats.rejected.deadline).toBe(1);
  expect(stats.rejected.cancelled).toBe(1);
  expect(stats.executions).toBe(0);
});

it('answers 503 QUEUE_FULL with Retry-After over HTTP when the queue is full, and keeps the queued one', async () => {
  const gateway = await startTestGateway();
  // One queued request fills the queue; the long delay keeps it there while the next one arrives.
  await gateway.writeModelConfig('linear', { max_queue_size: 1, max_queue_delay_ms: 1000 });
  await eventually(async () => (await view(gateway)).config.max_queue_size === 1, 10_000, 'config applied');
  const queued = gateway.post('/models/linear/1/predict', LINEAR_INPUT);
  await eventually(() => gateway.gateway.scheduler.queued('linear', 1) === 1, 5_000, 'first request queued');
  const refused = await gateway.post('/models/linear/1/predict', LINEAR_INPUT);
  expect(refused.headers.get('retry-after')).toBe('1');
  await expectError(refused, 503, 'QUEUE_FULL');
  // The queued request was not lost: it runs when its delay ends.
  expect((await queued).status).toBe(200);
  expect((await view(gateway)).versions[0]!.stats.rejected.queue_full).toBe(1);
});

it('loses no request across swaps and config changes under batched load', async () => {
  const gateway = await startTestGateway();
  const scales = new Set([1]);
  let stop = false;
  const failures: string[] = [];
  let answered = 0;
  const clients = Array.from({ length: 32 }, async () => {
    while (!stop) {
      try {
      const response = await gateway.post('/models/linear/1/predict', LINEAR_INPUT);
      const body = (await response.json()) as { outputs?: { output: number[][] } };
      if (response.status !== 200) failures.push(`${response.status} ${JSON.stringify(body)}`);
      else if (!scales.has(body.outputs!.output[0]![0]! / 5)) failures.push(`unexpected output ${JSON.stringify(body.outputs)}`);
      answered++;
      } catch (error) {
        failures.push(String(error));
      }
    }
  });
  const stopClients = async () => {
    stop = true;
    await Promise.all(clients);
  };
  onTestFinished(stopClients);
  const configs = [{ instances: 2 }, { max_batch_size: 4, max_queue_delay_ms: 2 }, { max_batch_size: 0 }, { instances: 1, preferred_batch_sizes: [8], max_batch_size: 16 }];
  const swapsBefore = gateway.gateway.registry.stats().swaps;
  for (let i = 0; i < configs.length; i++) {
    scales.add(i + 2);
    await gateway.writeLinear('linear', 1, i + 2);
    await gateway.writeModelConfig('linear', configs[i]);
    await eventually(() => gateway.gateway.registry.stats().swaps > swapsBefore + i, 15_000, `swap ${i + 1}`);
    const wanted = sorted(configs[i]!);
    await eventually(async () => sorted((await view(gateway)).config) === wanted, 10_000, `config ${i + 1}`);
  }
  stop = true;
  await Promise.all(clients);
  expect(failures).toEqual([]);
  expect(gateway.gateway.registry.stats().loadFailures).toBe(0);
  expect(answered).toBeGreaterThan(100);
});

function sorted(config: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(config).sort(([a], [b]) => a.localeCompare(b))));
}
