/**
 * The per-version `stats` of `GET /models` and the V2 statistics across several HTTP loops. Each
 * loop sends its scheduler counters to the primary every STATS_PUSH_MS; the primary answers each
 * with the sum of every other loop's latest counters, and a loop reports its own plus those. So a
 * listing covers every loop, at most about STATS_PUSH_MS behind the other loops' latest requests.
 * A loop's counts leave the sum when it exits (as they would with a restarted process).
 */
import cluster, { type Worker } from 'node:cluster';
import type { InferenceScheduler } from '../scheduling/inference-scheduler.js';
import { emptyCounters, type VersionCounters } from '../scheduling/version-counters.js';

const STATS_PUSH_MS = 250;

type CountersByVersion = Record<string, VersionCounters>;

interface StatsPush { readonly switchyardLoop: 'stats'; readonly counters: CountersByVersion }
interface StatsOfOthers { readonly switchyardLoop: 'stats-of-others'; readonly counters: CountersByVersion }

function isMessage<T extends { switchyardLoop: string }>(message: unknown, kind: T['switchyardLoop']): message is T {
  return typeof message === 'object' && message !== null && (message as T).switchyardLoop === kind;
}

const key = (model: string, version: number) => `${version}@${model}`;

function add(a: VersionCounters | undefined, b: VersionCounters | undefined): VersionCounters | undefined {
  if (!a || !b) return a ?? b;
  const sum = emptyCounters();
  for (const name of Object.keys(sum) as Array<keyof VersionCounters>) {
    sum[name] = name === 'lastInferenceAt' ? Math.max(a[name], b[name]) : a[name] + b[name];
  }
  return sum;
}

/** Primary: keeps each loop's latest counters and answers a loop's push with the others' sum. */
export function relayLoopStats(): void {
  const latest = new Map<Worker, CountersByVersion>();
  cluster.on('message', (from, message: unknown) => {
    if (!isMessage<StatsPush>(message, 'stats')) return;
    latest.set(from, message.counters);
    const others: Record<string, VersionCounters> = {};
    for (const [worker, counters] of latest) {
      if (worker === from) continue;
      for (const [name, value] of Object.entries(counters)) others[name] = add(others[name], value)!;
    }
    if (from.isConnected()) from.send({ switchyardLoop: 'stats-of-others', counters: others } satisfies StatsOfOthers);
  });
  cluster.on('exit', (worker) => latest.delete(worker));
}

/**
 * Loop: the scheduler as the HTTP routes see it, whose counters are this loop's plus every other
 * loop's. `versions` lists the model versions whose counters this loop shares.
 */
export function countersAcrossLoops(local: InferenceScheduler, versions: () => ReadonlyArray<readonly [string, number]>): InferenceScheduler {
  let others: CountersByVersion = {};
  process.on('message', (message: unknown) => {
    if (isMessage<StatsOfOthers>(message, 'stats-of-others')) others = message.counters;
  });
  const push = () => {
    if (!process.connected) return;
    const counters: Record<string, VersionCounters> = {};
    for (const [model, version] of versions()) {
      const value = local.counters?.(model, version);
      if (value) counters[key(model, version)] = value;
    }
    process.send?.({ switchyardLoop: 'stats', counters } satisfies StatsPush);
  };
  setInterval(push, STATS_PUSH_MS).unref();
  push();
  return {
    infer: (request) => local.infer(request),
    drain: () => local.drain(),
    counters: (model, version) => add(local.counters?.(model, version), others[key(model, version)]),
  };
}
