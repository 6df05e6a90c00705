/**
 * Shadow traffic benchmark (issue #16): what mirroring every request costs the client. One
 * gateway process (routes file), linear v1 as the primary and linear v2 (other weights) as the
 * shadow. Capacity is measured first (32 connections, unlimited); then the same fixed rate, about
 * a third of it, is offered with no shadow and with `shadow: 2:100`, in the order none, shadow,
 * shadow, none so that drift in the machine's load cancels out. Target: client p99 with 100 %
 * shadow <= 1.1x the p99 without.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLoad, runLoad, type LoadOptions, type LoadResult } from '../support/load.js';
import { createBenchRepo, linearBody } from '../support/model-repo-fixture.js';
import { startGatewayProcess } from '../support/server-process.js';
import type { ScenarioReport } from './core-gateway.js';

const CAPACITY_CONNECTIONS = 32;
const MODERATE_CONNECTIONS = 16;

interface ShadowRow {
  readonly version: number;
  readonly mirrored: number;
  readonly compared: number;
  readonly disagreed: number;
  readonly errors: number;
  readonly dropped: number;
}

export async function shadowScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  await repo.writeLinear(2, 2);
  const routesFile = join(repo.root, 'routes.json');
  const setRoutes = (routes: Record<string, string>) => writeFile(routesFile, JSON.stringify({ linear: routes }));
  await setRoutes({ default: '1' });
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const gateway = await startGatewayProcess(repo.root, { LOG_LEVEL: 'warn' });
  const path = '/models/linear/predict';
  const load = (connections: number, overallRate?: number): LoadOptions => ({
    url: gateway.url + path,
    method: 'POST',
    body: linearBody(),
    connections,
    durationSeconds,
    ...(overallRate === undefined ? {} : { overallRate }),
  });
  const shadowStats = async (): Promise<ShadowRow | undefined> => {
    const body = (await (await fetch(`${gateway.url}/models/linear`)).json()) as { shadow?: { versions: ShadowRow[] } };
    return body.shadow?.versions.find((row) => row.version === 2);
  };
  /** Writes the table and waits until requests see it (the file watcher, then the route cache). */
  const applyShadow = async (on: boolean) => {
    await setRoutes(on ? { default: '1', shadow: '2:100' } : { default: '1' });
    const until = Date.now() + 10_000;
    for (;;) {
      const table = (await (await fetch(`${gateway.url}/models/linear`)).json()) as { routes: Record<string, string> };
      if ((table.routes.shadow !== undefined) === on) break;
      if (Date.now() > until) throw new Error('the routes file change was not applied within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Past the route cache's bounds, so every request of the next run sees the table.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
  };
  try {
    await runLoad({ ...load(CAPACITY_CONNECTIONS), durationSeconds: Math.min(2, durationSeconds) });
    const capacity = await runLoad(load(CAPACITY_CONNECTIONS));
    const rate = Math.max(1, Math.round(capacity.requestsPerSecond / 3));
    lines.push(`capacity, no shadow (${CAPACITY_CONNECTIONS} conns, unlimited): ${formatLoad(capacity)}`);

    const none: LoadResult[] = [await runLoad(load(MODERATE_CONNECTIONS, rate))];
    await applyShadow(true);
    const before = (await shadowStats())?.mirrored ?? 0;
    const shadowed: LoadResult[] = [await runLoad(load(MODERATE_CONNECTIONS, rate)), await runLoad(load(MODERATE_CONNECTIONS, rate))];
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const stats = await shadowStats();
    await applyShadow(false);
    none.push(await runLoad(load(MODERATE_CONNECTIONS, rate)));

    const mean = (results: LoadResult[], pick: (r: LoadResult) => number) => results.reduce((sum, r) => sum + pick(r), 0) / results.length;
    for (const [label, results] of [['no shadow  ', none], ['100% shadow', shadowed]] as const) {
      for (const result of results) lines.push(`${label} at ${rate} req/s offered (${MODERATE_CONNECTIONS} conns): ${formatLoad(result)}`);
    }
    const shadowedRequests = shadowed.reduce((sum, r) => sum + r.requests, 0);
    const mirrored = (stats?.mirrored ?? 0) - before;
    lines.push(
      `shadow v2 during the shadowed runs: ${mirrored} mirrored of ${shadowedRequests} requests; totals since on: ` +
        `compared ${stats?.compared ?? 0}, disagreed ${stats?.disagreed ?? 0}, dropped ${stats?.dropped ?? 0}, errors ${stats?.errors ?? 0}`,
    );
    const p99Ratio = mean(shadowed, (r) => r.p99Ms) / Math.max(mean(none, (r) => r.p99Ms), 0.001);
    const rpsRatio = mean(shadowed, (r) => r.requestsPerSecond) / mean(none, (r) => r.requestsPerSecond);
    lines.push(`p99 mean: none ${mean(none, (r) => r.p99Ms).toFixed(2)} ms, shadow ${mean(shadowed, (r) => r.p99Ms).toFixed(2)} ms; req/s ratio ${rpsRatio.toFixed(3)}`);
    ratios.push({ metric: 'client p99 at 1/3 capacity, 100 % shadow / none', value: p99Ratio, target: '<= 1.1', ok: p99Ratio <= 1.1 });
    ratios.push({ metric: 'client req/s at 1/3 capacity, 100 % shadow / none', value: rpsRatio, target: '>= 0.95', ok: rpsRatio >= 0.95 });
    // The shadow must actually have run (a dead hook would look free), and the client saw no failures.
    const share = shadowedRequests > 0 ? mirrored / shadowedRequests : 0;
    ratios.push({ metric: 'share of shadowed-run requests mirrored', value: share, target: '>= 0.99', ok: share >= 0.99 });
    const failures = [...none, ...shadowed, capacity].reduce((sum, r) => sum + r.failures, 0);
    ratios.push({ metric: 'failed requests (every run)', value: failures, target: '= 0', ok: failures === 0 });
  } finally {
    await gateway.stop();
    await repo.remove();
  }
  return { name: 'shadow', lines, ratios };
}
