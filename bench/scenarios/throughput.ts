/**
 * Throughput benchmarks (issue: dynamic batching) on the MLP 256->1024->1024->256:
 * - the in-process ceiling: session.run rows/s at the best batch size, same sessions and threads;
 * - a naive server (Hono + onnxruntime-node, each request alone on the main thread);
 * - Switchyard with its dynamic batcher.
 * Targets: at 64 connections Switchyard req/s >= 3x naive and p99 <= 0.25x naive's p99 (issue #13); at
 * 1 connection Switchyard latency <= 1.1x naive.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { measureCeiling } from '../support/ceiling.js';
import { formatLoad, runLoad } from '../support/load.js';
import { createBenchRepo, MLP_SIZES, mlpBody } from '../support/model-repo-fixture.js';
import { listModelVersions } from '../support/model-versions.js';
import { startGatewayProcess, startServerProcess } from '../support/server-process.js';
import type { ScenarioReport } from './core-gateway.js';

const distRoot = fileURLToPath(new URL('../../', import.meta.url));
const naiveScript = join(distRoot, 'bench', 'servers', 'naive-onnx-server.js');

/**
 * Switchyard's settings for the MLP: greedy batching up to 64 rows on one session. Measured here,
 * one instance beats two: with two, the greedy batcher runs many small batches (average ~3.6 rows
 * against ~26), spending the CPU that the HTTP thread, the real bound, needs.
 */
export const MLP_CONFIG = { max_batch_size: 64, instances: 1 };

export async function throughputScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const mlpPath = join(repo.root, 'mlp', '1', 'model.onnx');
  await writeFile(join(repo.root, 'mlp', 'config.json'), JSON.stringify(MLP_CONFIG));
  try {
    const runtime = new WorkerPoolRuntime({ workers: 2 });
    const ceiling = await measureCeiling(runtime, mlpPath, MLP_SIZES[0], MLP_CONFIG.instances, [1, 8, 32, 64, 128], Math.max(1, durationSeconds / 4));
    await runtime.close();
    lines.push(
      `ceiling (${MLP_CONFIG.instances} session(s) on worker threads, as Switchyard runs them, no HTTP): ${ceiling.byBatchSize.map((b) => `batch ${b.batchSize}: ${b.rowsPerSecond.toFixed(0)} rows/s`).join(', ')}`,
    );

    const path = '/models/mlp/1/predict';
    const body = mlpBody();
    const measure = async (url: string, connections: number) => {
      await runLoad({ url: url + path, method: 'POST', body, connections, durationSeconds: 2 });
      return runLoad({ url: url + path, method: 'POST', body, connections, durationSeconds });
    };

    const naive = await startServerProcess({ script: naiveScript, args: [mlpPath] });
    const naive64 = await measure(naive.url, 64);
    const naive1 = await measure(naive.url, 1);
    await naive.stop();

    const gateway = await startGatewayProcess(repo.root, { RUNTIME_WORKERS: '2' });
    const countersNow = async () => (await listModelVersions(gateway.url, 'mlp'))[0]!.stats;
    const gateway64 = await measure(gateway.url, 64);
    const after64 = await countersNow(); // before the 1-connection runs, which batch nothing
    const gateway1 = await measure(gateway.url, 1);
    await gateway.stop();

    lines.push(`naive,      64 conns: ${formatLoad(naive64)}`);
    lines.push(`switchyard, 64 conns: ${formatLoad(gateway64)}`);
    lines.push(`naive,       1 conn:  ${formatLoad(naive1)}, mean ${naive1.meanMs.toFixed(3)} ms`);
    lines.push(`switchyard,  1 conn:  ${formatLoad(gateway1)}, mean ${gateway1.meanMs.toFixed(3)} ms`);
    lines.push(
      `switchyard batching at 64 conns (incl. warm-up): ${after64.requests} requests in ${after64.executions} executions (average batch ${(after64.requests / Math.max(1, after64.executions)).toFixed(1)})`,
    );
    lines.push(`switchyard rows/s at 64 conns vs ceiling: ${(gateway64.requestsPerSecond / ceiling.rowsPerSecond).toFixed(3)} (ceiling ${ceiling.rowsPerSecond.toFixed(0)} rows/s at batch ${ceiling.bestBatchSize})`);

    const rps = gateway64.requestsPerSecond / naive64.requestsPerSecond;
    ratios.push({ metric: '64 conns: Switchyard req/s / naive req/s', value: rps, target: '>= 3', ok: rps >= 3 });
    const p99 = gateway64.p99Ms / Math.max(naive64.p99Ms, 1);
    ratios.push({ metric: '64 conns: Switchyard p99 / naive p99', value: p99, target: '<= 0.25', ok: p99 <= 0.25 });
    // autocannon reports latency in whole ms at 1 connection; requests/s is the finer measure of it.
    const light = naive1.requestsPerSecond / gateway1.requestsPerSecond;
    ratios.push({ metric: '1 conn: Switchyard latency / naive latency (= naive req/s / Switchyard req/s)', value: light, target: '<= 1.1', ok: light <= 1.1 });
    ratios.push({ metric: 'Switchyard 64-conn req/s / in-process ceiling rows/s', value: gateway64.requestsPerSecond / ceiling.rowsPerSecond, target: 'report', ok: true });
  } finally {
    await repo.remove();
  }
  return { name: 'throughput (MLP 256-1024-1024-256)', lines, ratios };
}
