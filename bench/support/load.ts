/** Load generation with autocannon, reduced to the figures the benchmarks compare. */
import autocannon from 'autocannon';

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Caps the whole run's rate (req/s); default unlimited. */
  readonly overallRate?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly failures: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    method: options.method ?? 'GET',
    ...(options.body === undefined ? {} : { body: options.body }),
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
  });
  return {
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    meanMs: result.latency.average,
    failures: result.errors + result.timeouts + result.non2xx,
  };
}

export function formatLoad(result: LoadResult): string {
  return `${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${result.requests} requests, ${result.failures} failed`;
}

/**
 * Several runs of the same load as one: requests and failures summed, req/s averaged, the mean
 * latency weighted by requests, p50 and p99 the worst run's (percentiles do not add up).
 */
export function combineLoads(results: readonly LoadResult[]): LoadResult {
  const requests = results.reduce((sum, r) => sum + r.requests, 0);
  return {
    requests,
    requestsPerSecond: results.reduce((sum, r) => sum + r.requestsPerSecond, 0) / results.length,
    p50Ms: Math.max(...results.map((r) => r.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    meanMs: results.reduce((sum, r) => sum + r.meanMs * r.requests, 0) / Math.max(requests, 1),
    failures: results.reduce((sum, r) => sum + r.failures, 0),
  };
}
