/**
 * Scaling benchmarks (issue #13: several HTTP loops, each a node:cluster process with a full copy
 * of the gateway), what more loops buy and what they cost, from one run:
 * - the MLP at 64 connections with HTTP_LOOPS=1 and HTTP_LOOPS=2 (each loop with the default
 *   inference threads, CPU count / loops): req/s, p99, the average batch, and the 2-loop ÷ 1-loop
 *   ratios;
 * - resident memory per model version: the RSS of the gateway's whole process tree (primary and
 *   every loop, from /proc) with 1 and with SCALING_VERSIONS versions of the MLP loaded, after
 *   the same requests to each version (batches up to 64 rows), (RSS_N - RSS_1) / (N - 1), for 1
 *   and 2 loops; each RSS is the mean of MEMORY_REPEATS fresh gateways.
 * Report lines, no targets: the load generator shares the machine's cores with the gateway.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLoad, runLoad, type LoadResult } from '../support/load.js';
import { createBenchRepo, mlpBody } from '../support/model-repo-fixture.js';
import { listModelVersions } from '../support/model-versions.js';
import { processTree, processTreeRssMiB } from '../support/process-tree.js';
import { startGatewayProcess, type ServerProcess } from '../support/server-process.js';
import type { ScenarioReport } from './core-gateway.js';
import { MLP_CONFIG } from './throughput.js';

/** Versions of the MLP loaded for the "N versions" side of the memory measurement. */
export const SCALING_VERSIONS = 4;
const LOOP_COUNTS = [1, 2] as const;
/** Concurrent requests sent to each version before RSS is read, so batches up to 64 rows have run. */
const TOUCH_REQUESTS = 64;
const TOUCH_ROUNDS = 4;
/** Fresh gateways per measured RSS (their mean): one gateway's RSS varies by several MiB. */
const MEMORY_REPEATS = 2;

/** TOUCH_ROUNDS rounds of TOUCH_REQUESTS concurrent predicts on each of versions 1..versions, all 200. */
async function touchVersions(url: string, versions: number, body: string): Promise<void> {
  for (let v = 1; v <= versions; v += 1) {
    for (let round = 0; round < TOUCH_ROUNDS; round += 1) {
      const statuses = await Promise.all(
        Array.from({ length: TOUCH_REQUESTS }, async () => {
          const response = await fetch(`${url}/models/mlp/${v}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await response.arrayBuffer();
          return response.status;
        }),
      );
      const failed = statuses.filter((status) => status !== 200).length;
      if (failed > 0) throw new Error(`${failed} of ${TOUCH_REQUESTS} requests to MLP version ${v} failed`);
    }
  }
}

/** (RSS with N versions - RSS with 1) / (N - 1): the resident memory one more version costs. */
export function memoryPerVersionMiB(rssOneMiB: number, rssManyMiB: number, versions: number): number {
  if (!Number.isInteger(versions) || versions < 2) throw new RangeError(`needs at least 2 versions, got ${versions}`);
  return (rssManyMiB - rssOneMiB) / (versions - 1);
}

/**
 * The gateway with HTTP_LOOPS=loops and its log in `logFile`, ready once every loop listens:
 * /readyz answers as soon as the first loop does, so with several loops this also waits for the
 * primary's `loops-listening` log line (info level; the gateway logs no line per request).
 */
async function startLoopsGateway(repoRoot: string, loops: number, logFile: string): Promise<ServerProcess> {
  const gateway = await startGatewayProcess(repoRoot, { HTTP_LOOPS: String(loops), LOG_LEVEL: 'info' }, { logFile });
  const deadline = Date.now() + 120_000;
  while (loops > 1 && !(await readFile(logFile, 'utf8')).includes('"event":"loops-listening"')) {
    if (Date.now() > deadline) {
      await gateway.stop();
      throw new Error(`not every one of ${loops} HTTP loops listened within 120 s (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return gateway;
}

export async function scalingScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  await writeFile(join(repo.root, 'mlp', 'config.json'), JSON.stringify(MLP_CONFIG));
  const logFile = (name: string) => join(repo.root, `${name}.log`);
  const body = mlpBody();
  try {
    // Throughput: one gateway at a time, each warmed up, then measured.
    const loads: LoadResult[] = [];
    for (const loops of LOOP_COUNTS) {
      const gateway = await startLoopsGateway(repo.root, loops, logFile(`throughput-${loops}`));
      try {
        const url = gateway.url + '/models/mlp/1/predict';
        await runLoad({ url, method: 'POST', body, connections: 64, durationSeconds: 2 });
        const before = (await listModelVersions(gateway.url, 'mlp'))[0]!.stats;
        const load = await runLoad({ url, method: 'POST', body, connections: 64, durationSeconds });
        await new Promise((r) => setTimeout(r, 1_000)); // the other loops' counters trail by up to ~0.5 s
        const after = (await listModelVersions(gateway.url, 'mlp'))[0]!.stats;
        const batch = (after.requests - before.requests) / Math.max(1, after.executions - before.executions);
        lines.push(`MLP, HTTP_LOOPS=${loops} (default inference threads per loop), 64 conns: ${formatLoad(load)}, average batch ${batch.toFixed(1)} rows`);
        loads.push(load);
      } finally {
        await gateway.stop();
      }
    }
    const [one, two] = loads as [LoadResult, LoadResult];
    ratios.push({ metric: 'MLP 64 conns: req/s with HTTP_LOOPS=2 / HTTP_LOOPS=1', value: two.requestsPerSecond / Math.max(one.requestsPerSecond, 1e-9), target: 'report', ok: true });
    ratios.push({ metric: 'MLP 64 conns: p99 with HTTP_LOOPS=2 / HTTP_LOOPS=1', value: two.p99Ms / Math.max(one.p99Ms, 1), target: 'report', ok: true });
    ratios.push({ metric: 'MLP failed requests (both loop counts)', value: one.failures + two.failures, target: '= 0', ok: one.failures + two.failures === 0 });

    // Memory: fresh gateways with 1 and then N versions, each version served the same requests.
    const rss = new Map<string, number>();
    for (const versions of [1, SCALING_VERSIONS]) {
      for (let v = 2; v <= versions; v += 1) {
        await mkdir(join(repo.root, 'mlp', String(v)), { recursive: true });
        await copyFile(join(repo.root, 'mlp', '1', 'model.onnx'), join(repo.root, 'mlp', String(v), 'model.onnx'));
      }
      for (const loops of LOOP_COUNTS) {
        const samples: string[] = [];
        let sum = 0;
        for (let repeat = 1; repeat <= MEMORY_REPEATS; repeat += 1) {
          const gateway = await startLoopsGateway(repo.root, loops, logFile(`memory-${loops}-${versions}-${repeat}`));
          try {
            const listed = await listModelVersions(gateway.url, 'mlp');
            const ready = listed.filter((v) => v.state === 'READY').length;
            if (ready !== versions) throw new Error(`HTTP_LOOPS=${loops}: ${ready} READY versions of the MLP, expected ${versions}`);
            const atReady = processTreeRssMiB(gateway.child.pid!);
            await touchVersions(gateway.url, versions, body);
            await new Promise((r) => setTimeout(r, 1_000));
            const mib = processTreeRssMiB(gateway.child.pid!);
            sum += mib;
            samples.push(`${mib.toFixed(0)} (${atReady.toFixed(0)} when ready, ${processTree(gateway.child.pid!).length} processes)`);
          } finally {
            await gateway.stop();
          }
        }
        rss.set(`${loops}/${versions}`, sum / MEMORY_REPEATS);
        lines.push(`memory, HTTP_LOOPS=${loops}, ${versions} MLP version(s) loaded: RSS ${(sum / MEMORY_REPEATS).toFixed(0)} MiB, mean of fresh gateways: ${samples.join(', ')}`);
      }
    }
    for (const loops of LOOP_COUNTS) {
      const perVersion = memoryPerVersionMiB(rss.get(`${loops}/1`)!, rss.get(`${loops}/${SCALING_VERSIONS}`)!, SCALING_VERSIONS);
      lines.push(`memory per MLP version, HTTP_LOOPS=${loops}: ${perVersion.toFixed(1)} MiB, ${(perVersion / loops).toFixed(1)} per loop (RSS with ${SCALING_VERSIONS} versions - with 1, ÷ ${SCALING_VERSIONS - 1}; every loop loads every version)`);
      ratios.push({ metric: `MiB resident per MLP version, HTTP_LOOPS=${loops}`, value: perVersion, target: 'report', ok: true });
    }
  } finally {
    await repo.remove();
  }
  return { name: 'scaling (HTTP loops, memory per version)', lines, ratios };
}
