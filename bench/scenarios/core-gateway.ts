/**
 * Core gateway benchmarks (issue: core gateway):
 * - overhead: Switchyard predict on the linear model vs a bare single-loop Hono endpoint returning a
 *   constant (req/s ratio, target >= 1.0, issue #13);
 * - event loop: /healthz p99 while the MLP is saturated vs idle (target <= 2);
 * - hot swap: requests and failures during repeated swaps, p99 during swaps vs steady.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLoad, runLoad } from '../support/load.js';
import { createBenchRepo, linearBody, mlpBody } from '../support/model-repo-fixture.js';
import { startGatewayProcess, startServerProcess } from '../support/server-process.js';

const distRoot = fileURLToPath(new URL('../../', import.meta.url));
const bareScript = join(distRoot, 'bench', 'servers', 'bare-hono-server.js');

export interface ScenarioReport {
  readonly name: string;
  readonly lines: string[];
  readonly ratios: Array<{ metric: string; value: number; target: string; ok: boolean }>;
}

export async function coreGatewayScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const gateway = await startGatewayProcess(repo.root);
  const bare = await startServerProcess({ script: bareScript });
  try {
    const linearPath = '/models/linear/1/predict';
    const connections = 32;
    // Warm both (JIT, sessions) before measuring.
    await runLoad({ url: gateway.url + linearPath, method: 'POST', body: linearBody(), connections, durationSeconds: 2 });
    await runLoad({ url: bare.url + linearPath, method: 'POST', body: linearBody(), connections, durationSeconds: 2 });

    const bareLoad = await runLoad({ url: bare.url + linearPath, method: 'POST', body: linearBody(), connections, durationSeconds });
    const gatewayLoad = await runLoad({ url: gateway.url + linearPath, method: 'POST', body: linearBody(), connections, durationSeconds });
    lines.push(`overhead, bare Hono constant (${connections} conns): ${formatLoad(bareLoad)}`);
    lines.push(`overhead, Switchyard linear     (${connections} conns): ${formatLoad(gatewayLoad)}`);
    const overhead = gatewayLoad.requestsPerSecond / bareLoad.requestsPerSecond;
    ratios.push({ metric: 'linear req/s / bare Hono req/s', value: overhead, target: '>= 1.0', ok: overhead >= 1 });

    const healthIdle = await runLoad({ url: gateway.url + '/healthz', connections: 2, durationSeconds });
    const [mlpSaturated, healthBusy] = await Promise.all([
      runLoad({ url: gateway.url + '/models/mlp/1/predict', method: 'POST', body: mlpBody(), connections: 64, durationSeconds }),
      runLoad({ url: gateway.url + '/healthz', connections: 2, durationSeconds }),
    ]);
    lines.push(`event loop, /healthz idle:           ${formatLoad(healthIdle)}`);
    lines.push(`event loop, MLP saturated (64 conns): ${formatLoad(mlpSaturated)}`);
    lines.push(`event loop, /healthz while saturated: ${formatLoad(healthBusy)}`);
    const loopRatio = healthBusy.p99Ms / Math.max(healthIdle.p99Ms, 1);
    ratios.push({ metric: '/healthz p99 saturated / idle (idle floored at 1 ms)', value: loopRatio, target: '<= 2', ok: loopRatio <= 2 });

    const steady = await runLoad({ url: gateway.url + '/models/linear/predict', method: 'POST', body: linearBody(), connections, durationSeconds });
    let swaps = 0;
    let stop = false;
    const swapper = (async () => {
      let version = 2;
      while (!stop) {
        await repo.writeLinear(1, swaps % 2 === 0 ? 2 : 1); // overwrite: reload of version 1
        if (swaps % 3 === 0) await repo.writeLinear(version++, version); // a new version appears
        swaps++;
        await new Promise((r) => setTimeout(r, (durationSeconds * 1000) / 14));
      }
    })();
    const swapping = await runLoad({ url: gateway.url + '/models/linear/predict', method: 'POST', body: linearBody(), connections, durationSeconds });
    stop = true;
    await swapper;
    lines.push(`hot swap, steady:      ${formatLoad(steady)}`);
    lines.push(`hot swap, during ${swaps} file writes: ${formatLoad(swapping)}`);
    ratios.push({ metric: 'hot swap failed requests', value: swapping.failures, target: '= 0', ok: swapping.failures === 0 });
    const swapRatio = swapping.p99Ms / Math.max(steady.p99Ms, 1);
    ratios.push({ metric: 'hot swap p99 during swaps / steady', value: swapRatio, target: 'report', ok: true });
  } finally {
    await gateway.stop();
    await bare.stop();
    await repo.remove();
  }
  return { name: 'core gateway', lines, ratios };
}
