/**
 * A real gateway for integration tests, in this process: a temp model repository built with the
 * model builder, real worker-thread sessions, real HTTP on port 0, routes from a temp file or from
 * Redis under a random prefix. It closes itself when the test (or file) that started it ends, and
 * a prefix it owns is deleted when it closes, so a failing test leaves no gateway and no key.
 */
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Switchyard, type SwitchyardOptions } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { InferenceRuntime } from '../../src/runtime/inference-runtime.js';
import { writeModelFile } from '../../tools/model-builder/index.js';
import { cleanupAfter } from './cleanup.js';
import { send, type WireResponse } from './http.js';
import { linearModel, type ModelSet } from './models.js';
import { deleteKeysUnder, redisSettings, testRedisUrl, type RedisChoice } from './redis.js';
import { tempDir, writeRepository, writeTextAtomically } from './temp-dir.js';

// One eventually, one sleep, one LINEAR_INPUT for every test: re-exported where tests look first.
export { consistently, eventually, sleep } from './eventually.js';
export { LINEAR_INPUT } from './models.js';
export type { RedisChoice } from './redis.js';

export interface TestGateway {
  readonly gateway: Switchyard;
  readonly url: string;
  readonly repo: string;
  /** Set when the gateway uses Redis. */
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string | undefined;
  writeModel(name: string, version: number, bytes: Uint8Array): Promise<void>;
  writeLinear(name: string, version: number, scale: number): Promise<void>;
  /** Replaces <repo>/<name>/config.json in one step (an object is written as JSON). */
  writeModelConfig(name: string, config: unknown): Promise<void>;
  /** Replaces the routes file (file routing only) in one step. */
  writeRoutes(routes: Record<string, Record<string, string>>): Promise<void>;
  /** POST with a JSON body (a string is sent as is), through fetch. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** GET through fetch. */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** Any request over node:http with the path sent exactly as given (no `..` resolution). */
  raw(method: string, path: string, body?: Buffer | string, headers?: Record<string, string>): Promise<WireResponse>;
  /** Shuts down, deletes an owned Redis prefix, removes the repository. Safe to call twice. */
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Config overrides; the temp repo and port 0 are always set. */
  readonly config?: Partial<Config>;
  /** Env-style settings parsed like the real process's. */
  readonly env?: Record<string, string>;
  /** Where the gateway logs; default silent (TEST_LOG_LEVEL overrides). */
  readonly logger?: Logger;
  /** Files to put in the repository before start: name -> version -> bytes. Default: linear v1 (scale 1). */
  readonly models?: ModelSet;
  /** Redis for routes, limits and jobs; default none (routes from <repo>/routes.json). */
  readonly redis?: RedisChoice;
  /**
   * Listen but leave the repository unscanned, as main.ts is between the two steps: the test
   * calls gateway.loadRepository() itself. Default false (started and loaded).
   */
  readonly listenOnly?: boolean;
  /** More collaborators for the Switchyard (e.g. cluster members); the logger is the one above. */
  readonly switchyard?: Omit<SwitchyardOptions, 'logger'>;
  /** The inference runtime; default the gateway's own (a WorkerPoolRuntime). */
  readonly runtime?: InferenceRuntime;
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = await tempDir('test-repo');
  const repo = dir.path;
  await writeRepository(repo, options.models ?? { linear: { 1: linearModel(1) } });
  const env = options.env ?? {};
  const redis = redisSettings(options.redis, env);
  const config = loadConfig(
    {
      // One process whatever the machine: HTTP_LOOPS > 1 needs node:cluster (test/loops/ runs it for real).
      HTTP_LOOPS: '1',
      MODEL_STABILITY_MS: '150',
      RUNTIME_WORKERS: '2',
      DRAIN_TIMEOUT_MS: '10000',
      ROUTES_FILE: join(repo, 'routes.json'),
      ...env,
      ...(redis ? { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix } : {}),
      MODEL_REPO: repo,
      PORT: '0',
      HOST: '127.0.0.1',
    },
    options.config,
  );
  const gateway = new Switchyard(config, {
    ...options.switchyard,
    logger: options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...(options.runtime ? { runtime: options.runtime } : {}),
  });
  await gateway.listen();
  if (!options.listenOnly) await gateway.loadRepository();
  const url = gateway.url;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      try {
        await gateway.shutdown();
      } finally {
        if (redis?.owned && redis.url === testRedisUrl()) await deleteKeysUnder(redis.prefix);
        await dir.remove();
      }
    })());
  cleanupAfter(close);
  return {
    gateway,
    url,
    repo,
    redisUrl: redis?.url,
    redisPrefix: redis?.prefix,
    writeModel: (name, version, bytes) => writeModelFile(join(repo, name, String(version), 'model.onnx'), bytes),
    writeLinear: (name, version, scale) => writeModelFile(join(repo, name, String(version), 'model.onnx'), linearModel(scale)),
    writeModelConfig: (name, modelConfig) =>
      writeTextAtomically(join(repo, name, 'config.json'), typeof modelConfig === 'string' ? modelConfig : JSON.stringify(modelConfig)),
    writeRoutes: (routes) => writeTextAtomically(config.routesFile, JSON.stringify(routes)),
    post: (path, body, headers = {}) =>
      fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    get: (path, headers = {}) => fetch(url + path, { headers }),
    raw: (method, path, body, headers) => send(url, method, path, body, headers),
    close,
  };
}
