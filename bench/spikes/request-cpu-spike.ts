/**
 * Spike for issue #13 item 2 (not part of `npm run bench`): CPU per request on the HTTP event loop.
 * req/s on a shared 2-core machine moves with whatever else runs; the CPU time the gateway's main
 * thread spends per answered request (from /proc/<pid>/task/<pid>/stat) does much less, and it is
 * exactly the work the single loop has to do. Runs each gateway build given, alternating, on:
 * - native: the MLP (256-1024-1024-256), native JSON predict, 1 row, 64 connections;
 * - v2-json: the same MLP request over V2 JSON infer, 64 connections;
 * - v2-binary: an Identity model on 1×50,000 FP32, binary tensor data in and out, 8 connections.
 * Run from the repo after `npm run build`:
 *   node dist/bench/spikes/request-cpu-spike.js [seconds] [rounds] [main.js ...]
 * SPIKE_CASES=native,v2-json limits the cases; SPIKE_PROFILE_DIR=/tmp/prof adds --cpu-prof (one
 * .cpuprofile per gateway run, written when it stops on SIGINT); SPIKE_NODE_ARGS adds node flags
 * (e.g. --heap-prof). The gateway runs with --trace-gc:
 * garbage collections per 1,000 requests (scavenges, mark-compacts) count the allocation pressure,
 * which a loaded machine does not blur. The load generator (node:http, in this process) shares
 * the cores with the gateway.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIdentityModel, writeModelFile } from '../../tools/model-builder/index.js';
import { formatLoad } from '../support/load.js';
import { runRawLoad } from '../support/raw-load.js';
import { createBenchRepo, MLP_SIZES, mlpBody } from '../support/model-repo-fixture.js';
import { startServerProcess } from '../support/server-process.js';
import { MLP_CONFIG } from '../scenarios/throughput.js';
import { WIDE_ELEMENTS, wideBinaryBody } from '../scenarios/open-inference-protocol.js';

const seconds = Number(process.argv[2] ?? 6);
const rounds = Number(process.argv[3] ?? 2);
const mains = process.argv.length > 4 ? process.argv.slice(4) : [fileURLToPath(new URL('../../src/main.js', import.meta.url))];
const only = process.env.SPIKE_CASES?.split(',');
const profileDir = process.env.SPIKE_PROFILE_DIR;
/** More node flags for the gateway, space separated (e.g. --heap-prof --heap-prof-dir=/tmp/heap). */
const extraNodeArgs = process.env.SPIKE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

/** CPU seconds (user + system) of one thread, or of the whole process when tid is its pid's /proc/pid/stat. */
function cpuSeconds(path: string): number {
  const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function mlpV2Body(): string {
  const row = Array.from({ length: MLP_SIZES[0] }, (_, i) => ((i % 17) - 8) / 8);
  return JSON.stringify({ inputs: [{ name: 'input', shape: [1, MLP_SIZES[0]], datatype: 'FP32', data: row }] });
}

/** Collections so far in a --trace-gc log, by kind. */
function gcCounts(logFile: string): { scavenges: number; markCompacts: number } {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    // nothing logged yet
  }
  return { scavenges: text.split('Scavenge').length - 1, markCompacts: text.split('Mark-Compact').length - 1 };
}

const logDir = mkdtempSync(join(tmpdir(), 'request-cpu-spike-'));
const wide = wideBinaryBody();
const cases = [
  { name: 'native', path: '/models/mlp/1/predict', body: mlpBody(), headers: {}, connections: 64 },
  { name: 'v2-json', path: '/v2/models/mlp/versions/1/infer', body: mlpV2Body(), headers: {}, connections: 64 },
  { name: 'v2-binary', path: '/v2/models/wide/versions/1/infer', body: wide.body, headers: wide.headers, connections: 8 },
].filter((c) => !only || only.includes(c.name));

const repo = await createBenchRepo();
await writeFile(join(repo.root, 'mlp', 'config.json'), JSON.stringify(MLP_CONFIG));
await writeModelFile(join(repo.root, 'wide', '1', 'model.onnx'), buildIdentityModel('FP32', [-1, WIDE_ELEMENTS]));
try {
  for (let round = 0; round < rounds; round += 1) {
    for (const [index, main] of mains.entries()) {
      const logFile = join(logDir, `build${index}-round${round + 1}.log`);
      const server = await startServerProcess({
        script: main,
        logFile,
        nodeArgs: ['--trace-gc', ...extraNodeArgs, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=build${index}-round${round + 1}.cpuprofile`] : [])],
        env: { MODEL_REPO: repo.root, ROUTES_FILE: join(repo.root, 'routes.json'), MODEL_STABILITY_MS: '200', HTTP_LOOPS: '1' },
        readyPath: '/readyz',
      });
      const pid = server.child.pid!;
      try {
        for (const c of cases) {
          const load = { url: server.url + c.path, body: c.body, headers: c.headers, connections: c.connections };
          await runRawLoad({ ...load, durationSeconds: 2 });
          const main0 = cpuSeconds(`/proc/${pid}/task/${pid}/stat`);
          const all0 = cpuSeconds(`/proc/${pid}/stat`);
          const gc0 = gcCounts(logFile);
          const average = loadavg()[0]!.toFixed(1);
          const result = await runRawLoad({ ...load, durationSeconds: seconds });
          const mainCpu = cpuSeconds(`/proc/${pid}/task/${pid}/stat`) - main0;
          const allCpu = cpuSeconds(`/proc/${pid}/stat`) - all0;
          const gc1 = gcCounts(logFile);
          const perRequest = (cpu: number) => ((cpu * 1e6) / Math.max(1, result.requests)).toFixed(0);
          const perThousand = (count: number) => ((count * 1000) / Math.max(1, result.requests)).toFixed(1);
          console.log(
            `round ${round + 1}, build ${index} (${main}), ${c.name}: ${formatLoad(result)}; main thread ${perRequest(mainCpu)} CPU µs/request, process ${perRequest(allCpu)} CPU µs/request, per 1,000 requests ${perThousand(gc1.scavenges - gc0.scavenges)} scavenges and ${perThousand(gc1.markCompacts - gc0.markCompacts)} mark-compacts, load avg before ${average}`,
          );
        }
      } finally {
        if (profileDir || extraNodeArgs.length > 0) {
          const exited = new Promise((resolve) => server.child.once('exit', resolve));
          server.child.kill('SIGINT');
          await exited;
        }
        await server.stop();
      }
    }
  }
} finally {
  await repo.remove();
}
