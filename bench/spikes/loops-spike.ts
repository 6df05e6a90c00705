/**
 * Spike for issue #13 item 1 (not part of `npm run bench`): the MLP at 64 connections against the
 * gateway with HTTP_LOOPS=1 and =2, and the resident memory of its processes. Run from the repo:
 *   node --import tsx bench/spikes/loops-spike.ts [seconds] [rounds]
 * The load generator (autocannon, in this process) shares the machine's cores with the gateway.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLoad, runLoad } from '../support/load.js';
import { processTree, processTreeCpuSeconds, processTreeRssMiB } from '../support/process-tree.js';
import { createBenchRepo, mlpBody } from '../support/model-repo-fixture.js';
import { startServerProcess } from '../support/server-process.js';
import { MLP_CONFIG } from '../scenarios/throughput.js';

const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const seconds = Number(process.argv[2] ?? 8);
const rounds = Number(process.argv[3] ?? 2);

const repo = await createBenchRepo();
writeFileSync(join(repo.root, 'mlp', 'config.json'), JSON.stringify(MLP_CONFIG));
const body = mlpBody();
const variants = [
  { name: 'HTTP_LOOPS=1, RUNTIME_WORKERS=2', env: { HTTP_LOOPS: '1', RUNTIME_WORKERS: '2' } },
  { name: 'HTTP_LOOPS=2, RUNTIME_WORKERS=1', env: { HTTP_LOOPS: '2', RUNTIME_WORKERS: '1' } },
  { name: 'HTTP_LOOPS=2, RUNTIME_WORKERS=2', env: { HTTP_LOOPS: '2', RUNTIME_WORKERS: '2' } },
];
try {
  for (let round = 0; round < rounds; round += 1) {
    for (const variant of variants) {
      const server = await startServerProcess({ script: main, nodeArgs: ['--import', 'tsx'], env: { MODEL_REPO: repo.root, ROUTES_FILE: join(repo.root, 'routes.json'), MODEL_STABILITY_MS: '200', ...variant.env }, readyPath: '/readyz' });
      const url = server.url + '/models/mlp/1/predict';
      await runLoad({ url, method: 'POST', body, connections: 64, durationSeconds: 3 });
      const pids = processTree(server.child.pid!);
      const cpuBefore = processTreeCpuSeconds(pids);
      const load = loadavg()[0]!.toFixed(1);
      const result = await runLoad({ url, method: 'POST', body, connections: 64, durationSeconds: seconds });
      const cpu = processTreeCpuSeconds(pids) - cpuBefore;
      // Whole-server counts (with several loops /metrics aggregates them), warm-up included.
      const metrics = await (await fetch(server.url + '/metrics')).text();
      const total = (metric: string) =>
        metrics.split('\n').filter((line) => line.startsWith(`${metric}{`) && line.includes('model="mlp"')).reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
      const batch = total('switchyard_inference_rows_total') / Math.max(1, total('switchyard_inference_executions_total'));
      const rss = processTreeRssMiB(server.child.pid!);
      console.log(
        `round ${round + 1}, ${variant.name}: ${formatLoad(result)}, RSS ${rss.toFixed(0)} MiB, gateway CPU ${(cpu / seconds).toFixed(2)} cores, ${((cpu * 1e6) / Math.max(1, result.requests)).toFixed(0)} CPU µs/request, average batch ${batch.toFixed(1)} rows, load avg before ${load}`,
      );
      await server.stop();
    }
  }
} finally {
  await repo.remove();
}
