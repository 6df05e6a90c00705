/**
 * A keep-alive load loop over node:http that never decodes response bodies. autocannon appends
 * every response body to a string (UTF-8 decoding each byte), which for binary answers of
 * hundreds of kilobytes measures autocannon rather than the server; this loop only counts bytes.
 * Same figures as load.ts, so results print with formatLoad.
 */
import { Agent, request } from 'node:http';
import type { LoadResult } from './load.js';

export interface RawLoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
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
          latencies.push(performance.now() - start);
          resolve();
        });
        res.on('error', () => {
          failures++;
          resolve();
        });
      });
      req.on('error', () => {
        failures++;
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
