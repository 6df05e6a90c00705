/**
 * Operations benchmark (issue: operations): what observability costs on the hot path. Linear model
 * predict req/s with metrics on and info logging, vs metrics off and logging silenced, same load
 * (32 connections), each gateway in its own process, measured in turn (twice each).
 * Target: instrumented req/s ÷ bare req/s >= 0.95.
 */
import { combineLoads, formatLoad, runLoad, type LoadOptions } from '../support/load.js';
import { createBenchRepo, linearBody } from '../support/model-repo-fixture.js';
import { startGatewayProcess } from '../support/server-process.js';
import type { ScenarioReport } from './core-gateway.js';

const CONNECTIONS = 32;

export async function operationsScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const path = '/models/linear/1/predict';
  const load = (url: string): LoadOptions => ({ url: url + path, method: 'POST', body: linearBody(), connections: CONNECTIONS, durationSeconds });
  // Both gateways run at once (the idle one costs next to nothing) and are measured in turn, in
  // the order off, on, on, off, so that drift in the machine's load over the run cancels out.
  const bare = await startGatewayProcess(repo.root, { METRICS_ENABLED: 'false', LOG_LEVEL: 'silent' });
  const instrumented = await startGatewayProcess(repo.root, { METRICS_ENABLED: 'true', LOG_LEVEL: 'info' }).catch(async (error: unknown) => {
    await bare.stop();
    throw error;
  });

  try {
    // Warm both first (JIT, sessions).
    await runLoad({ ...load(bare.url), durationSeconds: Math.min(2, durationSeconds) });
    await runLoad({ ...load(instrumented.url), durationSeconds: Math.min(2, durationSeconds) });
    const off = [await runLoad(load(bare.url))];
    const on = [await runLoad(load(instrumented.url)), await runLoad(load(instrumented.url))];
    off.push(await runLoad(load(bare.url)));
    const observed = { result: combineLoads(on), metrics: await (await fetch(instrumented.url + '/metrics')).text() };
    const unobserved = { result: combineLoads(off) };
    lines.push(`linear, metrics off + logs silent (${CONNECTIONS} conns): ${formatLoad(unobserved.result)}`);
    lines.push(`linear, metrics on + logs info    (${CONNECTIONS} conns): ${formatLoad(observed.result)}`);
    // The instrumented run must have recorded what it served (a disabled hook would look free).
    const counted = /switchyard_requests_total\{model="linear",version="1",protocol="native",status="200"\} (\d+)/.exec(observed.metrics);
    lines.push(`metrics on: switchyard_requests_total for linear v1 200 = ${counted?.[1] ?? 'missing'}`);
    const ratio = observed.result.requestsPerSecond / unobserved.result.requestsPerSecond;
    ratios.push({ metric: 'linear req/s, metrics + info logs / neither', value: ratio, target: '>= 0.95', ok: ratio >= 0.95 });
    ratios.push({
      metric: 'failed requests (both runs)',
      value: unobserved.result.failures + observed.result.failures,
      target: '= 0',
      ok: unobserved.result.failures + observed.result.failures === 0,
    });
    const recorded = Number(counted?.[1] ?? 0);
    ratios.push({ metric: 'metrics recorded the measured requests', value: recorded >= observed.result.requests ? 1 : 0, target: '= 1', ok: recorded >= observed.result.requests });
  } finally {
    await bare.stop();
    await instrumented.stop();
    await repo.remove();
  }
  return { name: 'operations', lines, ratios };
}
