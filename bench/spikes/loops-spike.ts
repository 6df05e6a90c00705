/**
 * Spike for issue #13 item 1 (not part of `npm run bench`): the MLP at 64 connections against the
 * gateway with HTTP_LOOPS=1 and =2, and the resident memory of its processes. Run from the repo:
 *   node --import tsx bench/spikes/loops-spike.ts [seconds] [rounds]
 * The load generator (autocannon, in this process) shares the machine's cores with the gateway.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLoad, runLoad } from '../support/load.js';
import { createBenchRepo, mlpBody } from '../support/model-repo-fixture.js';
import { startServerProcess } from '../support/server-process.js';
import { MLP_CONFIG } from '../scenarios/throughput.js';

const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const seconds = Number(process.argv[2] ?? 8);
const rounds = Number(process.argv[3] ?? 2);

/** The pids of a process and every descendant. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch { /* gone */ }
  }
  const all: number[] = [];
  const visit = (p: number) => {
    all.push(p);
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return all;
}

/** CPU seconds (user + system) used so far by a process tree (clock ticks of 10 ms). */
function treeCpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const p of pids) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone */ }
  }
  return ticks / 100;
}

/** RSS in MiB of a process and every descendant. */
function treeRssMiB(pid: number): number {
  let kib = 0;
  for (const p of tree(pid)) {
    try { kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return kib / 1024;
}

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
      const pids = tree(server.child.pid!);
      const cpuBefore = treeCpuSeconds(pids);
      const load = loadavg()[0]!.toFixed(1);
      const result = await runLoad({ url, method: 'POST', body, connections: 64, durationSeconds: seconds });
      const cpu = treeCpuSeconds(pids) - cpuBefore;
      // Whole-server counts (with several loops /metrics aggregates them), warm-up included.
      const metrics = await (await fetch(server.url + '/metrics')).text();
      const total = (metric: string) =>
        metrics.split('\n').filter((line) => line.startsWith(`${metric}{`) && line.includes('model="mlp"')).reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
      const batch = total('switchyard_inference_rows_total') / Math.max(1, total('switchyard_inference_executions_total'));
      const rss = treeRssMiB(server.child.pid!);
      console.log(
        `round ${round + 1}, ${variant.name}: ${formatLoad(result)}, RSS ${rss.toFixed(0)} MiB, gateway CPU ${(cpu / seconds).toFixed(2)} cores, ${((cpu * 1e6) / Math.max(1, result.requests)).toFixed(0)} CPU µs/request, average batch ${batch.toFixed(1)} rows, load avg before ${load}`,
      );
      await server.stop();
    }
  }
} finally {
  await repo.remove();
}
