/**
 * Baseline for the overhead benchmark: a bare Hono endpoint that parses the same JSON body and
 * answers a constant, i.e. the cost of HTTP + JSON with no gateway at all.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
const constant = { model_name: 'linear', model_version: '1', outputs: { output: [[0, 0]] } };
app.get('/healthz', (c) => c.json({ status: 'ok' }));
app.post('/models/:name/:version/predict', async (c) => {
  const body = (await c.req.json()) as { inputs?: unknown };
  if (!body.inputs) return c.json({ error: 'no inputs' }, 400);
  return c.json(constant);
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8081), hostname: process.env.HOST ?? '127.0.0.1' });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
