/**
 * Scale-out benchmarks (issue #14: a front gateway forwarding to inference nodes), every server its
 * own process on 127.0.0.1 and this process the load generator, from one run:
 * - forwarding cost: the linear model through the front (empty repository) vs the same node called
 *   directly, at 32 connections and at 1: p50 added (target <= 0.3 ms) and the req/s ratio. The
 *   linear model because its inference is a few microseconds, so what is measured is the hop (a
 *   heavier model's run time and batching would hide a fraction of a millisecond);
 * - killing one of two nodes (SIGKILL) under 32 connections through the front: failed requests
 *   (target 0) and the time from the kill until the front sends the dead node nothing more
 *   (target <= 1 s): the front's failed forwarded attempts (switchyard_forwarded_requests_total,
 *   only the dead node fails) read every METRICS_POLL_MS, the first reading at their final count;
 * - two nodes, one slowed (a much heavier model of the same signature, 4 -> 2048 -> 2048 -> 2, run
 *   one row at a time):
 *   the share of requests each served through the front (x-served-by) vs its share of the
 *   capacity, each node's req/s measured alone in the same run;
 * - how the cost grows: the front with 1, 2 and 3 nodes, req/s and p99 (report only: the machine's
 *   cores are shared by the front, every node and the load generator).
 *
 * How the front finds its nodes (BENCH_CLUSTER_DISCOVERY): `backends` (default) lists them as
 * static V2 backends in a BACKENDS_FILE; `heartbeats` gives every process one REDIS_URL and a
 * random REDIS_PREFIX and lets the front find the nodes by their heartbeats. Each phase uses its
 * own model name, served only by the nodes of that phase, so every node runs for the whole
 * scenario and either discovery sees the same candidate sets.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildMlpModel, writeModelFile } from '../../tools/model-builder/index.js';
import { formatLoad, type LoadResult } from '../support/load.js';
import { createBenchRepo, linearBody, type BenchRepo } from '../support/model-repo-fixture.js';
import { runRawLoad } from '../support/raw-load.js';
import { startGatewayProcess, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { deleteRedisKeys } from './async-jobs.js';
import type { ScenarioReport } from './core-gateway.js';

const frontScript = fileURLToPath(new URL('../servers/cluster-front.js', import.meta.url));

/** How often the front's metrics are read while a node is killed. */
export const METRICS_POLL_MS = 50;
/** The slowed node's model: same input and output as the linear model, ~8 M multiply-adds a row. */
const SLOW_SIZES = [4, 2048, 2048, 2];
const SLOW_CONFIG = { max_batch_size: 1 };
/** Outcomes of a forwarded attempt that count as the target's failure (src/cluster/cluster-scheduler.ts ForwardOutcome). */
const FAILED_OUTCOMES = new Set(['connect', 'reset', 'timeout', 'status-5xx', 'bad-response']);

interface NodeSpec {
  readonly name: string;
  /** Model names it serves (each version 1 of the linear model, or the heavy model when slowed). */
  readonly models: readonly string[];
  readonly slowed?: boolean;
}

const NODES: readonly NodeSpec[] = [
  { name: 'node-a', models: ['solo', 'scale1', 'scale2', 'scale3', 'pair', 'mixed'] },
  { name: 'node-b', models: ['scale2', 'scale3', 'pair'] },
  { name: 'node-c', models: ['scale3'] },
  { name: 'node-slow', models: ['mixed'], slowed: true },
];

interface RunningNode {
  readonly spec: NodeSpec;
  readonly server: ServerProcess;
}

/** How the front finds the nodes: the one place that differs between static backends and heartbeats. */
interface Discovery {
  readonly name: string;
  /** Extra environment of every node. */
  readonly nodeEnv: Readonly<Record<string, string>>;
  /** Extra environment of the front, given the running nodes (may write files). */
  frontEnv(nodes: readonly RunningNode[], dir: string): Promise<Record<string, string>>;
  /** The front process: the bench's front (static backends wired in) or the gateway itself. */
  readonly front: 'bench-front' | 'gateway';
  /** After every process stopped: removes what discovery left behind. */
  cleanup(): Promise<void>;
}

/** The node an `x-served-by` names: a node id, or `backend:<name>:<url>` for a static backend listed under the node's name. */
export function nodeNameOf(servedBy: string | undefined): string | undefined {
  if (servedBy === undefined || !servedBy.startsWith('backend:')) return servedBy;
  const rest = servedBy.slice('backend:'.length);
  const colon = rest.indexOf(':');
  return colon < 0 ? rest : rest.slice(0, colon);
}

/** The value at quantile q (0..1) of unsorted values, not rounded; 0 for none. */
export function percentileMs(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/** Sum of a Prometheus counter's series whose labels pass `keep`, from the text exposition. */
export function counterSum(metricsText: string, metric: string, keep: (labels: Record<string, string>) => boolean = () => true): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    const match = /^(\w+)\{([^}]*)\}\s+(\S+)/.exec(line) ?? /^(\w+)()\s+(\S+)/.exec(line);
    if (!match || match[1] !== metric) continue;
    const labels: Record<string, string> = {};
    for (const pair of match[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    if (keep(labels)) sum += Number(match[3]);
  }
  return sum;
}

/** One reading of the front's failed-attempt count: asked for at `sentAtMs`, answered at `atMs`. */
export interface FailureReading {
  readonly sentAtMs: number;
  readonly atMs: number;
  readonly failures: number;
}

/**
 * Time from the kill until a dead node got its last attempt, from readings of a count of attempts
 * that failed (only the dead node fails), in time order. The last failure came after the last
 * reading below the final count was asked for, and before the first reading at the final count
 * answered: `atLeastMs` and `atMostMs` from the kill (the target holds the upper bound). Both 0
 * when nothing failed after the kill; atMostMs is Infinity while the count still rose between the
 * last two readings (traffic had not stopped by the end).
 */
export function trafficStopMs(readings: readonly FailureReading[], killedAtMs: number): { atLeastMs: number; atMostMs: number } {
  if (readings.length === 0) throw new RangeError('no readings');
  const final = readings[readings.length - 1]!.failures;
  const atKill = [...readings].reverse().find((r) => r.atMs <= killedAtMs)?.failures ?? 0;
  if (final === atKill) return { atLeastMs: 0, atMostMs: 0 };
  const firstFinal = readings.findIndex((r) => r.atMs > killedAtMs && r.failures === final);
  const before = readings[firstFinal - 1];
  const atLeastMs = Math.max(0, (before?.sentAtMs ?? killedAtMs) - killedAtMs);
  if (firstFinal === readings.length - 1 && readings.length >= 2) return { atLeastMs, atMostMs: Infinity };
  return { atLeastMs, atMostMs: readings[firstFinal]!.atMs - killedAtMs };
}

function discoveryFromEnv(): Discovery {
  const mode = process.env.BENCH_CLUSTER_DISCOVERY ?? 'backends';
  if (mode === 'backends') {
    return {
      name: 'static V2 backends (BACKENDS_FILE)',
      nodeEnv: {},
      // Probes every second: outlier ejection takes a dead node out first, the probe keeps it out.
      frontEnv: async (nodes, dir) => {
        const file = join(dir, 'backends.json');
        const entries = Object.fromEntries(
          nodes.map((n) => [n.spec.name, { urls: [n.server.url], models: Object.fromEntries(n.spec.models.map((m) => [m, [1]])) }]),
        );
        await writeFile(file, JSON.stringify(entries, null, 2));
        return { BACKENDS_FILE: file, BACKEND_PROBE_INTERVAL_MS: '1000' };
      },
      front: process.env.BENCH_CLUSTER_FRONT === 'gateway' ? 'gateway' : 'bench-front',
      cleanup: async () => undefined,
    };
  }
  if (mode === 'heartbeats') {
    // No job workers: each would poll the shared queue under the bench prefix.
    const redis = { REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: `bench-cluster-${process.pid}-${Date.now()}:`, JOB_CONCURRENCY: '0' };
    return {
      name: 'heartbeats in Redis (REDIS_URL)',
      nodeEnv: redis,
      frontEnv: async () => ({ ...redis }),
      front: 'gateway',
      cleanup: async () => void (await deleteRedisKeys(redis.REDIS_URL, redis.REDIS_PREFIX)),
    };
  }
  throw new Error(`BENCH_CLUSTER_DISCOVERY=${mode}: one of backends, heartbeats`);
}

/** One node's repository: each of its models a copy of the linear model (or the heavy one when slowed). */
async function nodeRepo(spec: NodeSpec): Promise<BenchRepo> {
  const repo = await createBenchRepo();
  const source = join(repo.root, 'linear', '1', 'model.onnx');
  for (const model of spec.models) {
    const target = join(repo.root, model, '1', 'model.onnx');
    if (spec.slowed) {
      await writeModelFile(target, buildMlpModel({ sizes: SLOW_SIZES }));
      // One row per run: batching would let its capacity grow with the load it is given.
      await writeFile(join(repo.root, model, 'config.json'), JSON.stringify(SLOW_CONFIG));
    } else {
      await mkdir(join(repo.root, model, '1'), { recursive: true });
      await copyFile(source, target);
    }
  }
  await rm(join(repo.root, 'linear'), { recursive: true });
  await rm(join(repo.root, 'mlp'), { recursive: true });
  return repo;
}

interface Measured {
  readonly load: LoadResult;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Answers by node name (x-served-by). */
  readonly served: Map<string, number>;
}

async function measure(url: string, connections: number, durationSeconds: number, during?: () => void): Promise<Measured> {
  const latencies: number[] = [];
  const served = new Map<string, number>();
  const timer = during ? setTimeout(during, (durationSeconds * 1000) / 3) : undefined;
  const load = await runRawLoad({
    url,
    connections,
    durationSeconds,
    body: linearBody(),
    onAnswer: (answer) => {
      if (answer.status !== 200) return;
      latencies.push(answer.latencyMs);
      const name = nodeNameOf(answer.servedBy) ?? '(none)';
      served.set(name, (served.get(name) ?? 0) + 1);
    },
  });
  clearTimeout(timer);
  return { load, p50Ms: percentileMs(latencies, 0.5), p99Ms: percentileMs(latencies, 0.99), served };
}

const predictPath = (model: string) => `/models/${model}/1/predict`;

/** Waits until the front answers `model` from every one of `names` (x-served-by). */
async function waitServing(front: ServerProcess, model: string, names: readonly string[]): Promise<void> {
  const seen = new Set<string>();
  const deadline = Date.now() + 60_000;
  while (names.some((n) => !seen.has(n))) {
    if (Date.now() > deadline) throw new Error(`the front did not serve ${model} from ${names.join(', ')} within 60 s (seen: ${[...seen].join(', ') || 'none'})`);
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => {
        try {
          const response = await fetch(front.url + predictPath(model), { method: 'POST', headers: { 'content-type': 'application/json' }, body: linearBody() });
          await response.arrayBuffer();
          return response.status === 200 ? nodeNameOf(response.headers.get('x-served-by') ?? undefined) : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    for (const name of answers) if (name !== undefined) seen.add(name);
    if (names.some((n) => !seen.has(n))) await new Promise((r) => setTimeout(r, 200));
  }
}

const servedLine = (served: Map<string, number>) => [...served].sort(([a], [b]) => a.localeCompare(b)).map(([name, count]) => `${name} ${count}`).join(', ');

export async function clusterScenario(durationSeconds: number): Promise<ScenarioReport> {
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const discovery = discoveryFromEnv();
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-cluster-'));
  const repos: BenchRepo[] = [];
  const nodes: RunningNode[] = [];
  let front: ServerProcess | undefined;
  const node = (name: string) => nodes.find((n) => n.spec.name === name)!;
  let finished = false;
  try {
    for (const spec of NODES) {
      const repo = await nodeRepo(spec);
      repos.push(repo);
      const server = await startGatewayProcess(repo.root, { NODE_ID: spec.name, RUNTIME_WORKERS: '1', ...discovery.nodeEnv }, { logFile: join(dir, `${spec.name}.log`) });
      nodes.push({ spec, server });
    }
    const emptyRepo = join(dir, 'front-repo');
    await mkdir(emptyRepo);
    const frontEnv = { NODE_ID: 'front', RUNTIME_WORKERS: '1', ...(await discovery.frontEnv(nodes, dir)) };
    front =
      discovery.front === 'gateway'
        ? await startGatewayProcess(emptyRepo, frontEnv, { logFile: join(dir, 'front.log') })
        : await startServerProcess({
            script: frontScript,
            env: { MODEL_REPO: emptyRepo, ROUTES_FILE: join(emptyRepo, 'routes.json'), ...frontEnv },
            readyPath: '/readyz',
            logFile: join(dir, 'front.log'),
          });
    lines.push(`discovery: ${discovery.name}; front: ${discovery.front === 'gateway' ? 'dist/src/main.js' : 'bench/servers/cluster-front.js'}; every node RUNTIME_WORKERS=1; ${NODES.length} nodes + front + load generator share this machine's cores`);

    // Forwarding cost: one node, called directly and through the front, the same load.
    await waitServing(front, 'solo', ['node-a']);
    const a = node('node-a').server;
    await measure(a.url + predictPath('solo'), 32, 1);
    await measure(front.url + predictPath('solo'), 32, 1);
    for (const connections of [32, 1]) {
      const direct = await measure(a.url + predictPath('solo'), connections, durationSeconds);
      const forwarded = await measure(front.url + predictPath('solo'), connections, durationSeconds);
      lines.push(`forwarding, ${connections} conn(s), node directly:  ${formatLoad(direct.load)}, p50 ${direct.p50Ms.toFixed(3)} ms`);
      lines.push(`forwarding, ${connections} conn(s), through front: ${formatLoad(forwarded.load)}, p50 ${forwarded.p50Ms.toFixed(3)} ms`);
      const added = forwarded.p50Ms - direct.p50Ms;
      ratios.push({ metric: `forwarding, ${connections} conn(s): p50 added by the front, ms`, value: added, target: '<= 0.3', ok: added <= 0.3 });
      ratios.push({ metric: `forwarding, ${connections} conn(s): req/s through front / node directly`, value: forwarded.load.requestsPerSecond / Math.max(direct.load.requestsPerSecond, 1e-9), target: 'report', ok: true });
      ratios.push({ metric: `forwarding, ${connections} conn(s): failed requests`, value: direct.load.failures + forwarded.load.failures, target: '= 0', ok: direct.load.failures + forwarded.load.failures === 0 });
    }

    // How the cost grows: the front with 1, 2, 3 nodes.
    const scale: Measured[] = [];
    for (const count of [1, 2, 3]) {
      const names = NODES.filter((n) => n.models.includes(`scale${count}`)).map((n) => n.name);
      await waitServing(front, `scale${count}`, names);
      await measure(front.url + predictPath(`scale${count}`), 32, 1);
      const result = await measure(front.url + predictPath(`scale${count}`), 32, durationSeconds);
      scale.push(result);
      lines.push(`scale, front + ${count} node(s), 32 conns: ${formatLoad(result.load)}; served: ${servedLine(result.served)}`);
    }
    for (const [index, result] of scale.entries()) {
      if (index === 0) continue;
      ratios.push({ metric: `scale: req/s with ${index + 1} nodes / 1 node (cores shared)`, value: result.load.requestsPerSecond / Math.max(scale[0]!.load.requestsPerSecond, 1e-9), target: 'report', ok: true });
      ratios.push({ metric: `scale: p99 with ${index + 1} nodes / 1 node`, value: result.p99Ms / Math.max(scale[0]!.p99Ms, 1e-9), target: 'report', ok: true });
    }
    const scaleFailures = scale.reduce((sum, r) => sum + r.load.failures, 0);
    ratios.push({ metric: 'scale: failed requests', value: scaleFailures, target: '= 0', ok: scaleFailures === 0 });

    // A slowed node: each node's capacity alone, then the share each serves through the front.
    await waitServing(front, 'mixed', ['node-a', 'node-slow']);
    const capacity = new Map<string, number>();
    for (const name of ['node-a', 'node-slow']) {
      const url = node(name).server.url + predictPath('mixed');
      await measure(url, 32, 1);
      const alone = await measure(url, 32, durationSeconds);
      capacity.set(name, alone.load.requestsPerSecond);
      lines.push(`slowed, ${name} alone, 32 conns: ${formatLoad(alone.load)}`);
    }
    const mixed = await measure(front.url + predictPath('mixed'), 32, durationSeconds);
    lines.push(`slowed, through front, 32 conns: ${formatLoad(mixed.load)}; served: ${servedLine(mixed.served)}`);
    const totalCapacity = [...capacity.values()].reduce((s, v) => s + v, 0);
    const totalServed = [...mixed.served.values()].reduce((s, v) => s + v, 0);
    for (const name of ['node-a', 'node-slow']) {
      const share = (mixed.served.get(name) ?? 0) / Math.max(totalServed, 1);
      const capacityShare = capacity.get(name)! / Math.max(totalCapacity, 1e-9);
      lines.push(`slowed, ${name}: ${(share * 100).toFixed(1)} % of requests, ${(capacityShare * 100).toFixed(1)} % of the capacity`);
      ratios.push({ metric: `slowed: ${name} share of requests / share of capacity`, value: share / Math.max(capacityShare, 1e-9), target: 'report', ok: true });
    }
    const fastServed = mixed.served.get('node-a') ?? 0;
    const slowServed = mixed.served.get('node-slow') ?? 0;
    ratios.push({ metric: 'slowed: requests served by the slow node / by the fast one', value: slowServed / Math.max(fastServed, 1), target: '< 1', ok: slowServed < fastServed });
    ratios.push({ metric: 'slowed: failed requests', value: mixed.load.failures, target: '= 0', ok: mixed.load.failures === 0 });

    // Kill one of two nodes under load (last: node-b does not come back).
    await waitServing(front, 'pair', ['node-a', 'node-b']);
    await measure(front.url + predictPath('pair'), 32, 1);
    const frontUrl = front.url;
    const readings: FailureReading[] = [];
    let polling = true;
    const failedAttempts = async () =>
      counterSum(await (await fetch(frontUrl + '/metrics')).text(), 'switchyard_forwarded_requests_total', (l) => FAILED_OUTCOMES.has(l.outcome ?? ''));
    const poller = (async () => {
      while (polling) {
        const sentAtMs = performance.now();
        const failures = await failedAttempts();
        readings.push({ sentAtMs, atMs: performance.now(), failures });
        await new Promise((r) => setTimeout(r, METRICS_POLL_MS));
      }
    })();
    let killedAt = 0;
    const killSeconds = Math.max(durationSeconds, 3) * 1.5;
    const killed = await measure(frontUrl + predictPath('pair'), 32, killSeconds, () => {
      node('node-b').server.child.kill('SIGKILL');
      killedAt = performance.now();
    });
    polling = false;
    await poller;
    const lastSentAt = performance.now();
    const lastFailures = await failedAttempts();
    readings.push({ sentAtMs: lastSentAt, atMs: performance.now(), failures: lastFailures });
    const metricsText = await (await fetch(frontUrl + '/metrics')).text();
    const stopMs = trafficStopMs(readings, killedAt);
    const failedAtKill = [...readings].reverse().find((r) => r.atMs <= killedAt)?.failures ?? 0;
    lines.push(`kill, node-b SIGKILLed ${(killSeconds / 3).toFixed(1)} s into ${killSeconds.toFixed(1)} s at 32 conns: ${formatLoad(killed.load)}; served: ${servedLine(killed.served)}`);
    lines.push(
      `kill, front: ${readings[readings.length - 1]!.failures - failedAtKill} failed forwarded attempts after the kill, ` +
        `${counterSum(metricsText, 'switchyard_forward_retries_total')} retries, ${counterSum(metricsText, 'switchyard_upstream_ejections_total')} ejections; ` +
        `last attempt to node-b ${stopMs.atLeastMs.toFixed(0)}..${stopMs.atMostMs.toFixed(0)} ms after the kill ` +
        `(${readings.length} metrics readings, one every ${METRICS_POLL_MS} ms after the last answered)`,
    );
    ratios.push({ metric: 'kill: failed requests', value: killed.load.failures, target: '= 0', ok: killed.load.failures === 0 });
    ratios.push({ metric: 'kill: ms from the kill to the last attempt sent to the dead node (at most)', value: stopMs.atMostMs, target: '<= 1000', ok: stopMs.atMostMs <= 1000 });
    finished = true;
  } finally {
    await front?.stop();
    await Promise.all(nodes.map((n) => n.server.stop()));
    await Promise.all(repos.map((r) => r.remove()));
    await discovery.cleanup();
    // The front's and nodes' logs stay when the scenario failed.
    if (finished) await rm(dir, { recursive: true, force: true });
    else console.error(`cluster scenario failed; logs of the front and the nodes in ${dir}`);
  }
  return { name: 'cluster (front gateway and nodes)', lines, ratios };
}
