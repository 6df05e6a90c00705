/**
 * Baselines with no gateway at all, on one Hono event loop:
 * - overhead: a bare endpoint that parses the same JSON body and answers a constant, i.e. the cost
 *   of HTTP + JSON;
 * - V2 binary: an echo that reads the whole binary body and answers as many bytes as Switchyard's
 *   binary answer (bench/support/echo-answer.ts), with its content type and header-length header,
 *   i.e. the cost of moving those bytes through this HTTP stack.
 * Usage: node bare-hono-server.js [<echo answer bytes> <echo inference-header-content-length>]
 * (PORT, HOST from the environment); without them the echo answers the body as it came.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { echoAnswer } from '../support/echo-answer.js';

const [answerArg, headerLengthArg] = process.argv.slice(2);
const answerBytes = answerArg === undefined ? undefined : Number(answerArg);

const app = new Hono();
const constant = { model_name: 'linear', model_version: '1', outputs: { output: [[0, 0]] } };
app.get('/healthz', (c) => c.json({ status: 'ok' }));
app.post('/models/:name/:version/predict', async (c) => {
  const body = (await c.req.json()) as { inputs?: unknown };
  if (!body.inputs) return c.json({ error: 'no inputs' }, 400);
  return c.json(constant);
});
app.post('/v2/models/:name/versions/:version/infer', async (c) => {
  const received = new Uint8Array(await c.req.raw.arrayBuffer());
  // Plain header objects keep @hono/node-server on its fast response path, as Switchyard's do.
  return new Response(echoAnswer(received, answerBytes ?? received.length), {
    status: 200,
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': headerLengthArg ?? c.req.header('inference-header-content-length') ?? '0',
    },
  });
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8081), hostname: process.env.HOST ?? '127.0.0.1' });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
