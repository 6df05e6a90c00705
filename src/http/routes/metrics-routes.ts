/** `GET /metrics`: the gateway's Prometheus metrics in the text exposition format. */
import { Hono } from 'hono';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';

export function metricsRoutes(metrics: GatewayMetrics): Hono {
  const app = new Hono();
  app.get('/metrics', async () => new Response(await metrics.exposition(), { status: 200, headers: { 'content-type': metrics.contentType } }));
  return app;
}
