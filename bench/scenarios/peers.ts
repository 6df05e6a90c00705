/**
 * Real peers (issue 13 item 3): the servers a user would deploy instead of Switchyard, each in its
 * own process, serving the same MLP ONNX file with onnxruntime (same session options) and batching
 * on where they have it:
 * - KServe's Python ModelServer (`kserve`), an onnxruntime kserve.Model; it has no batching;
 * - MLServer with an onnxruntime custom runtime and adaptive batching;
 * - Triton through PyTriton, dynamic batching on, the @batch function calling onnxruntime.
 * Each gets the same V2 JSON infer request (same input tensor) at 64 connections and at 1, after
 * its answer is checked against Switchyard's. A peer whose environment is absent (bench/peers/setup.sh
 * not run) or that fails to start is skipped with the reason. Targets, against the best peer that
 * ran: at 64 connections req/s >= 3x and p99 <= 0.5x; at 1 connection latency <= 1.0x.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLoad, runLoad, type LoadResult } from '../support/load.js';
import { createBenchRepo, MLP_SIZES } from '../support/model-repo-fixture.js';
import { startGatewayProcess, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { answerDiffers, readV2Answer, type V2Answer } from '../support/v2-answer.js';
import type { ScenarioReport } from './core-gateway.js';
import { MLP_CONFIG } from './throughput.js';

export interface Peer {
  /** Folder under bench/peers/ (server.py) and name of its environment under bench/peers/.venv/. */
  readonly name: string;
  readonly title: string;
  /** Path answering 200 once the model is loaded. */
  readonly readyPath: string;
  readonly readyTimeoutMs: number;
  /** Serves Triton's statistics extension (GET /v2/models/mlp/stats), which shows its batching. */
  readonly v2Stats: boolean;
}

export const PEERS: readonly Peer[] = [
  { name: 'kserve', title: 'KServe ModelServer 0.21.0', readyPath: '/v2/models/mlp/ready', readyTimeoutMs: 60_000, v2Stats: false },
  { name: 'mlserver', title: 'MLServer 1.7.1 (adaptive batching)', readyPath: '/v2/models/mlp/ready', readyTimeoutMs: 90_000, v2Stats: false },
  { name: 'pytriton', title: 'Triton 2.51.0 via PyTriton 0.7.0 (dynamic batching)', readyPath: '/v2/models/mlp/ready', readyTimeoutMs: 120_000, v2Stats: true },
];

const INFER_PATH = '/v2/models/mlp/infer';

/** The checkout's root: the Python peers are sources, not compiled, so they are found from here in dist/ or not. */
function checkoutRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bench', 'peers', 'setup.sh'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench/peers/setup.sh not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** One row of the MLP's input (the same values as the throughput scenario's), as a V2 JSON request. */
export function mlpV2Body(): string {
  const row = Array.from({ length: MLP_SIZES[0] }, (_, i) => ((i % 17) - 8) / 8);
  return JSON.stringify({ inputs: [{ name: 'input', shape: [1, MLP_SIZES[0]], datatype: 'FP32', data: row }] });
}

async function inferOnce(url: string, body: string): Promise<V2Answer> {
  const response = await fetch(url + INFER_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 300)}`);
  return readV2Answer(text);
}

interface Measured {
  readonly title: string;
  readonly at64: LoadResult;
  readonly at1: LoadResult;
  /** Rows per session.run over the 64-connection runs (warm-up included), where the server says. */
  readonly averageBatch?: number;
}

/** Rows inferred and executions so far, from Triton's statistics extension. */
async function v2Counts(url: string): Promise<{ rows: number; executions: number }> {
  const stats = (await (await fetch(url + '/v2/models/mlp/stats')).json()) as { model_stats: Array<{ inference_count: number; execution_count: number }> };
  return stats.model_stats.reduce((sum, m) => ({ rows: sum.rows + m.inference_count, executions: sum.executions + m.execution_count }), { rows: 0, executions: 0 });
}

async function measure(url: string, body: string, durationSeconds: number, v2Stats: boolean): Promise<Omit<Measured, 'title'>> {
  const load = (connections: number, seconds: number) => runLoad({ url: url + INFER_PATH, method: 'POST', body, connections, durationSeconds: seconds });
  const before = v2Stats ? await v2Counts(url) : undefined;
  await load(64, Math.min(2, durationSeconds)); // warm-up: JIT, sessions, batcher
  const at64 = await load(64, durationSeconds);
  const after = v2Stats ? await v2Counts(url) : undefined;
  await load(1, 1);
  const at1 = await load(1, durationSeconds);
  const averageBatch = before && after ? (after.rows - before.rows) / Math.max(1, after.executions - before.executions) : undefined;
  return { at64, at1, ...(averageBatch === undefined ? {} : { averageBatch }) };
}

/** What a peer's log says went wrong: its last lines naming an error, else its last lines. */
async function logExcerpt(path: string, count = 6): Promise<string> {
  let lines: string[];
  try {
    lines = (await readFile(path, 'utf8')).trim().split('\n');
  } catch {
    return '    | (no output)';
  }
  const errors = lines.filter((line) => /error|exception|failed/i.test(line));
  return (errors.length > 0 ? errors : lines).slice(-count).map((line) => '    | ' + line.slice(0, 300)).join('\n');
}

export async function peersScenario(durationSeconds: number): Promise<ScenarioReport> {
  const root = checkoutRoot();
  const repo = await createBenchRepo();
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const shared = `(load generator shares the ${cpus().length} cores)`;
  const modelPath = join(repo.root, 'mlp', '1', 'model.onnx');
  const body = mlpV2Body();
  await writeFile(join(repo.root, 'mlp', 'config.json'), JSON.stringify(MLP_CONFIG));
  try {
    const gateway = await startGatewayProcess(repo.root, { RUNTIME_WORKERS: '2' });
    let reference: V2Answer;
    let switchyard: Measured;
    try {
      reference = await inferOnce(gateway.url, body);
      switchyard = { title: 'Switchyard', ...(await measure(gateway.url, body, durationSeconds, true)) };
    } finally {
      await gateway.stop();
    }

    const peers: Measured[] = [];
    for (const peer of PEERS) {
      const python = join(root, 'bench', 'peers', '.venv', peer.name, 'bin', 'python');
      if (!existsSync(python)) {
        lines.push(`peer ${peer.name} skipped: no environment at bench/peers/.venv/${peer.name} (run: bash bench/peers/setup.sh ${peer.name})`);
        continue;
      }
      const logFile = join(repo.root, `${peer.name}.log`);
      let server: ServerProcess;
      try {
        server = await startServerProcess({
          command: python,
          script: join(root, 'bench', 'peers', peer.name, 'server.py'),
          args: (port) => [modelPath, String(port)],
          readyPath: peer.readyPath,
          readyTimeoutMs: peer.readyTimeoutMs,
          logFile,
        });
      } catch (error) {
        lines.push(`peer ${peer.name} skipped: it did not start: ${(error as Error).message}; its log says:\n${await logExcerpt(logFile)}`);
        continue;
      }
      try {
        const wrong = answerDiffers(reference, await inferOnce(server.url, body));
        if (wrong) {
          lines.push(`peer ${peer.name} skipped: its answer is not Switchyard's: ${wrong}`);
          continue;
        }
        peers.push({ title: peer.title, ...(await measure(server.url, body, durationSeconds, peer.v2Stats)) });
      } catch (error) {
        lines.push(`peer ${peer.name} skipped: ${(error as Error).message}; its log says:\n${await logExcerpt(logFile)}`);
      } finally {
        await server.stop();
      }
    }

    const width = Math.max(...[switchyard, ...peers].map((m) => m.title.length));
    for (const m of [switchyard, ...peers]) lines.push(`${m.title.padEnd(width)}  64 conns: ${formatLoad(m.at64)} ${shared}`);
    for (const m of [switchyard, ...peers]) {
      lines.push(`${m.title.padEnd(width)}   1 conn:  ${formatLoad(m.at1)}, mean ${m.at1.meanMs.toFixed(3)} ms ${shared}`);
    }
    for (const m of [switchyard, ...peers]) {
      if (m.averageBatch !== undefined) lines.push(`${m.title.padEnd(width)}  average batch at 64 conns (incl. warm-up): ${m.averageBatch.toFixed(1)} rows per run`);
    }
    if (peers.length === 0) {
      lines.push('no peer ran, so there is nothing to compare (install them with: bash bench/peers/setup.sh)');
      return { name: 'peers (MLP 256-1024-1024-256, V2 JSON)', lines, ratios };
    }
    const best64 = peers.reduce((a, b) => (b.at64.requestsPerSecond > a.at64.requestsPerSecond ? b : a));
    const best1 = peers.reduce((a, b) => (b.at1.requestsPerSecond > a.at1.requestsPerSecond ? b : a));
    lines.push(`best peer at 64 conns: ${best64.title}; at 1 conn: ${best1.title}`);
    const rps = switchyard.at64.requestsPerSecond / best64.at64.requestsPerSecond;
    ratios.push({ metric: `64 conns: Switchyard req/s / best peer's (${best64.title}) ${shared}`, value: rps, target: '>= 3', ok: rps >= 3 });
    const p99 = switchyard.at64.p99Ms / Math.max(best64.at64.p99Ms, 1);
    ratios.push({ metric: `64 conns: Switchyard p99 / best peer's p99 ${shared}`, value: p99, target: '<= 0.5', ok: p99 <= 0.5 });
    // autocannon reports latency in whole ms; at 1 connection requests/s is the finer measure of it.
    const light = best1.at1.requestsPerSecond / switchyard.at1.requestsPerSecond;
    ratios.push({
      metric: `1 conn: Switchyard latency / best peer's (${best1.title}) (= its req/s / Switchyard's) ${shared}`,
      value: light,
      target: '<= 1.0',
      ok: light <= 1.0,
    });
    const failures = [switchyard, ...peers].reduce((sum, m) => sum + m.at64.failures + m.at1.failures, 0);
    ratios.push({ metric: 'failed requests, every server', value: failures, target: '= 0', ok: failures === 0 });
  } finally {
    await repo.remove();
  }
  return { name: 'peers (MLP 256-1024-1024-256, V2 JSON)', lines, ratios };
}
