/**
 * One `/metrics` for several HTTP loops. Whichever loop a scrape reaches asks the primary, which
 * collects every loop's registry over the cluster IPC channel (prom-client's AggregatorRegistry)
 * and answers the aggregate: counters and histograms summed, gauges summed unless their
 * definition (src/metrics/gateway-metrics.ts) names another aggregator.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';

/** Longer than prom-client's own 5 s wait for the loops, so its error is the one reported. */
const METRICS_ANSWER_TIMEOUT_MS = 6_000;

interface MetricsRequest {
  readonly switchyardLoop: 'metrics-request';
  readonly id: number;
}

interface MetricsAnswer {
  readonly switchyardLoop: 'metrics';
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
}

function isMessage<T extends { switchyardLoop: string }>(message: unknown, kind: T['switchyardLoop']): message is T {
  return typeof message === 'object' && message !== null && (message as T).switchyardLoop === kind;
}

/** Primary: answers every loop's metrics requests with the aggregate of all loops. */
export function serveLoopMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, 'metrics-request')) return;
    const answer = (body: Omit<MetricsAnswer, 'switchyardLoop' | 'id'>) => {
      if (worker.isConnected()) worker.send({ switchyardLoop: 'metrics', id: message.id, ...body } satisfies MetricsAnswer);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      (error: unknown) => answer({ error: `metrics of every HTTP loop not collected: ${(error as Error).message}` }),
    );
  });
}

/** Loop: gives the primary this loop's series and makes `/metrics` answer the aggregate of all loops. */
export function shareLoopMetrics(metrics: GatewayMetrics): void {
  new AggregatorRegistry(); // installs prom-client's answer to the primary's collection requests
  AggregatorRegistry.setRegistries([metrics.registry]);
  const pending = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<MetricsAnswer>(message, 'metrics')) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.text !== undefined) waiter?.resolve(message.text);
    else waiter?.reject(new Error(message.error ?? 'no metrics'));
  });
  metrics.exposeVia(
    () =>
      new Promise<string>((resolve, reject) => {
        if (!process.connected) return reject(new Error('metrics of every HTTP loop not collected: the primary is gone'));
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('metrics of every HTTP loop not collected in time'));
        }, METRICS_ANSWER_TIMEOUT_MS);
        const settle = <A>(fn: (a: A) => void) => (a: A) => {
          clearTimeout(timer);
          fn(a);
        };
        pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
        process.send!({ switchyardLoop: 'metrics-request', id } satisfies MetricsRequest);
      }),
  );
}
