/**
 * Open Inference Protocol benchmarks (issues: KServe V2 with binary tensors, #13):
 * - binary against the physical limit: an Identity model on a 1×50,000 FP32 tensor, binary tensor
 *   data in and out, against a bare single-loop Hono server receiving the same request and
 *   answering as many bytes as Switchyard's answer (bench/servers/bare-hono-server.ts); target
 *   Switchyard req/s ÷ echo req/s >= 0.8;
 * - binary vs JSON: the same request as JSON (in and out), reported (binary req/s ÷ JSON req/s).
 *   All three are measured with raw-load.ts: autocannon decodes every response body as UTF-8,
 *   which for a 200 kB binary answer costs more than the server's work and would measure
 *   autocannon instead;
 * - protocol overhead: the linear model through V2 JSON vs the native predict endpoint, same
 *   gateway, same version; target within 10 % (V2 req/s ÷ native req/s >= 0.9).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIdentityModel, writeModelFile } from '../../tools/model-builder/index.js';
import { formatLoad, runLoad, type LoadOptions } from '../support/load.js';
import { runRawLoad, type RawLoadOptions } from '../support/raw-load.js';
import { createBenchRepo, linearBody } from '../support/model-repo-fixture.js';
import { startGatewayProcess, startServerProcess, type ServerProcess } from '../support/server-process.js';
import type { ScenarioReport } from './core-gateway.js';

const bareScript = join(fileURLToPath(new URL('../../', import.meta.url)), 'bench', 'servers', 'bare-hono-server.js');

export const WIDE_ELEMENTS = 50_000;

/** Values with short decimal forms, so the JSON side is not penalised by 17-digit floats. */
function wideData(): Float32Array {
  const data = new Float32Array(WIDE_ELEMENTS);
  for (let i = 0; i < WIDE_ELEMENTS; i++) data[i] = ((i % 2000) - 1000) / 8;
  return data;
}

export function wideJsonBody(): string {
  return JSON.stringify({ inputs: [{ name: 'input', shape: [1, WIDE_ELEMENTS], datatype: 'FP32', data: Array.from(wideData()) }] });
}

/** The same request as binary tensor data, asking for the output as binary data too. */
export function wideBinaryBody(): { body: Buffer; headers: Record<string, string> } {
  const data = wideData();
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [1, WIDE_ELEMENTS], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

export function linearV2Body(): string {
  return JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
}

/** The size of a binary infer answer and its JSON header's, from one request (which must succeed). */
async function binaryAnswerSize(url: string, request: { body: Buffer; headers: Record<string, string> }): Promise<{ bytes: number; headerLength: number }> {
  const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
  const bytes = (await response.arrayBuffer()).byteLength;
  if (!response.ok) throw new Error(`binary infer on ${url}: HTTP ${response.status}`);
  return { bytes, headerLength: Number(response.headers.get('inference-header-content-length')) };
}

export async function openInferenceProtocolScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  await writeModelFile(join(repo.root, 'wide', '1', 'model.onnx'), buildIdentityModel('FP32', [-1, WIDE_ELEMENTS]));
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const gateway = await startGatewayProcess(repo.root);
  let echo: ServerProcess | undefined;
  // Warm up first (JIT, sessions), then measure.
  const measure = async (options: Omit<LoadOptions, 'durationSeconds'>) => {
    await runLoad({ ...options, durationSeconds: Math.min(2, durationSeconds) });
    return runLoad({ ...options, durationSeconds });
  };
  const measureRaw = async (options: Omit<RawLoadOptions, 'durationSeconds'>) => {
    await runRawLoad({ ...options, durationSeconds: Math.min(2, durationSeconds) });
    return runRawLoad({ ...options, durationSeconds });
  };
  try {
    const widePath = '/v2/models/wide/versions/1/infer';
    const binary = wideBinaryBody();
    const wideConnections = 8;
    // The echo answers as many bytes as Switchyard does, with the same header length: read both off one answer.
    const answer = await binaryAnswerSize(gateway.url + widePath, binary);
    echo = await startServerProcess({ script: bareScript, args: [String(answer.bytes), String(answer.headerLength)] });
    const echoed = await binaryAnswerSize(echo.url + widePath, binary);
    lines.push(`1×${WIDE_ELEMENTS} FP32 binary: request ${binary.body.length} bytes; answer ${answer.bytes} bytes (JSON header ${answer.headerLength}) from Switchyard, ${echoed.bytes} (${echoed.headerLength}) from the bare echo`);
    ratios.push({ metric: 'bare echo answer bytes = Switchyard answer bytes', value: echoed.bytes === answer.bytes ? 1 : 0, target: '= 1', ok: echoed.bytes === answer.bytes });
    const echoLoad = await measureRaw({ url: echo.url + widePath, body: binary.body, headers: binary.headers, connections: wideConnections });
    const binaryLoad = await measureRaw({ url: gateway.url + widePath, body: binary.body, headers: binary.headers, connections: wideConnections });
    const jsonLoad = await measureRaw({ url: gateway.url + widePath, body: wideJsonBody(), connections: wideConnections });
    lines.push(`1×${WIDE_ELEMENTS} FP32, bare Hono echo of the same bytes (${wideConnections} conns): ${formatLoad(echoLoad)}`);
    lines.push(`1×${WIDE_ELEMENTS} FP32, binary in and out (${wideConnections} conns): ${formatLoad(binaryLoad)}`);
    lines.push(`1×${WIDE_ELEMENTS} FP32, JSON in and out   (${wideConnections} conns): ${formatLoad(jsonLoad)}`);
    const echoRatio = binaryLoad.requestsPerSecond / Math.max(echoLoad.requestsPerSecond, 1e-9);
    ratios.push({ metric: 'wide FP32 binary req/s / bare Hono echo req/s', value: echoRatio, target: '>= 0.8', ok: echoRatio >= 0.8 });
    const binaryRatio = binaryLoad.requestsPerSecond / Math.max(jsonLoad.requestsPerSecond, 1e-9);
    ratios.push({ metric: 'wide FP32 binary req/s / JSON req/s', value: binaryRatio, target: 'report', ok: true });
    const wideFailures = echoLoad.failures + binaryLoad.failures + jsonLoad.failures;
    ratios.push({ metric: 'wide FP32 failed requests (echo + binary + JSON)', value: wideFailures, target: '= 0', ok: wideFailures === 0 });

    const connections = 32;
    const v2 = await measure({ url: gateway.url + '/v2/models/linear/versions/1/infer', method: 'POST', body: linearV2Body(), connections });
    const native = await measure({ url: gateway.url + '/models/linear/1/predict', method: 'POST', body: linearBody(), connections });
    lines.push(`linear, V2 JSON infer  (${connections} conns): ${formatLoad(v2)}`);
    lines.push(`linear, native predict (${connections} conns): ${formatLoad(native)}`);
    const overhead = v2.requestsPerSecond / Math.max(native.requestsPerSecond, 1e-9);
    ratios.push({ metric: 'linear V2 JSON req/s / native req/s', value: overhead, target: '>= 0.9', ok: overhead >= 0.9 });
  } finally {
    await gateway.stop();
    await echo?.stop();
    await repo.remove();
  }
  return { name: 'open inference protocol', lines, ratios };
}
