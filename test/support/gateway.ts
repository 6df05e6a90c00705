/**
 * A real gateway for integration tests: a temp model repository built with the model builder,
 * real worker-thread sessions, real HTTP on an ephemeral port, routes from a temp file or from the
 * shared Redis under a random prefix.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Switchyard } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { buildLinearModel, writeModelFile } from '../../tools/model-builder/index.js';

export interface TestGateway {
  readonly gateway: Switchyard;
  readonly url: string;
  readonly repo: string;
  writeModel(name: string, version: number, bytes: Uint8Array): Promise<void>;
  writeLinear(name: string, version: number, scale: number): Promise<void>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Config overrides; the temp repo and port 0 are always set. */
  readonly config?: Partial<Config>;
  /** Env-style settings parsed like the real process's. */
  readonly env?: Record<string, string>;
  /** Where the gateway logs; default silent (TEST_LOG_LEVEL overrides). */
  readonly logger?: Logger;
  /** Files to put in the repository before start: name -> version -> bytes. */
  readonly models?: Record<string, Record<number, Uint8Array>>;
}

export const LINEAR_INPUT = { inputs: { input: [[1, 2, 3, 4]] } };

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const repo = await mkdtemp(join(tmpdir(), 'switchyard-test-repo-'));
  const models = options.models ?? { linear: { 1: buildLinearModel({ inputSize: 4, outputSize: 2, scale: 1 }) } };
  for (const [name, versions] of Object.entries(models)) {
    for (const [version, bytes] of Object.entries(versions)) await writeModelFile(join(repo, name, version, 'model.onnx'), bytes);
  }
  const config = loadConfig(
    {
      MODEL_STABILITY_MS: '150',
      RUNTIME_WORKERS: '2',
      DRAIN_TIMEOUT_MS: '10000',
      ROUTES_FILE: join(repo, 'routes.json'),
      ...options.env,
      MODEL_REPO: repo,
      PORT: '0',
      HOST: '127.0.0.1',
    },
    options.config,
  );
  const gateway = await Switchyard.start(config, { logger: options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  const url = gateway.url;
  return {
    gateway,
    url,
    repo,
    writeModel: (name, version, bytes) => writeModelFile(join(repo, name, String(version), 'model.onnx'), bytes),
    writeLinear: (name, version, scale) =>
      writeModelFile(join(repo, name, String(version), 'model.onnx'), buildLinearModel({ inputSize: 4, outputSize: 2, scale })),
    post: (path, body, headers = {}) =>
      fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    async close() {
      await gateway.shutdown();
      await rm(repo, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns true, failing after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
