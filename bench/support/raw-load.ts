/**
 * A keep-alive load loop over node:http that never decodes response bodies. autocannon appends
 * every response body to a string (UTF-8 decoding each byte), which for binary answers of
 * hundreds of kilobytes measures autocannon rather than the server; this loop only counts bytes.
 * Same figures as load.ts, so results print with formatLoad; `onAnswer` sees each answer (or
 * failure) with its timing and `x-served-by`, for figures load.ts does not give.
 */
import { Agent, request } from 'node:http';
import type { LoadResult } from './load.js';

export interface RawLoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
  /** Called once per request as it ends. */
  readonly onAnswer?: (answer: RawAnswer) => void;
}

/** One request of the loop as it ended. */
export interface RawAnswer {
  /** HTTP status; 0 when no answer came (connection refused, reset). */
  readonly status: number;
  /** The `x-served-by` header of the answer, when it had one. */
  readonly servedBy: string | undefined;
  /** performance.now() when the request was sent, and its latency, both in ms (not rounded). */
  readonly startedAt: number;
  readonly latencyMs: number;
}

export async function runRawLoad(options: RawLoadOptions): Promise<LoadResult> {
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  const headers = { 'content-type': 'application/json', ...options.headers, 'content-length': String(body.length) };
  const target = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const end = started + options.durationSeconds * 1000;

  const once = () =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      const req = request({ hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          if (res.statusCode !== 200) failures++;
          const latencyMs = performance.now() - start;
          latencies.push(latencyMs);
          const servedBy = res.headers['x-served-by'];
          options.onAnswer?.({ status: res.statusCode ?? 0, servedBy: typeof servedBy === 'string' ? servedBy : undefined, startedAt: start, latencyMs });
          resolve();
        });
        res.on('error', () => {
          failures++;
          options.onAnswer?.({ status: 0, servedBy: undefined, startedAt: start, latencyMs: performance.now() - start });
          resolve();
        });
      });
      req.on('error', () => {
        failures++;
        options.onAnswer?.({ status: 0, servedBy: undefined, startedAt: start, latencyMs: performance.now() - start });
        resolve();
      });
      req.end(body);
    });

  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < end) await once();
    }),
  );
  const elapsedSeconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0);
  const mean = latencies.reduce((sum, ms) => sum + ms, 0) / Math.max(latencies.length, 1);
  return {
    requests: latencies.length,
    requestsPerSecond: latencies.length / elapsedSeconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    meanMs: Math.round(mean * 100) / 100,
    failures,
  };
}
