/**
 * Records each inference request (native predict, V2 infer) into the gateway's metrics once it
 * has been answered: model from the path, the version it was routed to, the HTTP status, the time
 * taken. Mounted on the inference paths only, before every other middleware, so the time covers
 * the whole request and refusals made by other middleware (shutdown, rate limits) are counted.
 */
import { performance } from 'node:perf_hooks';
import type { MiddlewareHandler } from 'hono';
import type { RequestRecorder } from '../../metrics/gateway-metrics.js';

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * The integer version an inference request was routed to; set by the predict and infer
     * routes right after resolving it (cheaper than reading back the response's headers).
     */
    modelVersion: number;
  }
}

export function metricsMiddleware(recorder: RequestRecorder): MiddlewareHandler {
  return async function requestMetrics(c, next) {
    if (c.req.method !== 'POST') return next();
    const started = performance.now();
    // Read before next(): the param belongs to this middleware's own matched path.
    const model = c.req.param('name');
    await next();
    recorder.record(model, c.get('modelVersion'), c.res.status, (performance.now() - started) / 1000);
  };
}
