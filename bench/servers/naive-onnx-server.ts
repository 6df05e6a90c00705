/**
 * Baseline for the throughput benchmark: the server most people write first. Hono +
 * onnxruntime-node, each request decoded and run alone with session.run on the main thread
 * (onnxruntime's default thread settings), no batching, no queue.
 * Usage: node naive-onnx-server.js <model.onnx>   (PORT, HOST from the environment)
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import * as ort from 'onnxruntime-node';

const modelPath = process.argv[2];
if (!modelPath) throw new Error('usage: naive-onnx-server <model.onnx>');
const session = await ort.InferenceSession.create(modelPath);
const inputName = session.inputNames[0]!;
const outputName = session.outputNames[0]!;

const app = new Hono();
app.get('/healthz', (c) => c.json({ status: 'ok' }));
app.post('/models/:name/:version/predict', async (c) => {
  const body = (await c.req.json()) as { inputs: Record<string, number[][]> };
  const rows = body.inputs[inputName]!;
  const width = rows[0]!.length;
  const tensor = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, width]);
  const result = await session.run({ [inputName]: tensor });
  const output = result[outputName]!;
  const [outRows, outWidth] = output.dims as [number, number];
  const data = output.data as Float32Array;
  const nested = Array.from({ length: outRows }, (_, r) => Array.from(data.subarray(r * outWidth, (r + 1) * outWidth)));
  return c.json({ model_name: c.req.param('name'), model_version: c.req.param('version'), outputs: { [outputName]: nested } });
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8082), hostname: process.env.HOST ?? '127.0.0.1' });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
