/**
 * Environment -> one frozen, validated Config. Every option has its default here and a row in
 * the README's configuration table; an invalid value stops start-up with a message naming it.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

const integer = (min: number) => z.coerce.number().int().min(min);

const envSchema = z.object({
  PORT: integer(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  MODEL_REPO: z.string().min(1).default('./model-repo'),
  ROUTES_FILE: z.string().min(1).default('./config/routes.json'),
  REDIS_URL: z.string().url().optional(),
  REDIS_PREFIX: z.string().default('switchyard:'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT_BYTES: integer(1).default(16 * 1024 * 1024),
  DRAIN_TIMEOUT_MS: integer(0).default(30_000),
  ROUTE_CACHE_TTL_MS: integer(1).default(250),
  MODEL_STABILITY_MS: integer(0).default(500),
  RUNTIME_WORKERS: integer(1).default(availableParallelism()),
  RUNTIME_WORKER_NICE: integer(0).max(19).default(10),
  RUNTIME_INTRA_OP_THREADS: integer(1).default(1),
  RUNTIME_INTER_OP_THREADS: integer(1).default(1),
  RUNTIME_GRAPH_OPTIMIZATION: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  MODEL_WARMUP: z.enum(['true', 'false']).default('true'),
});

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly modelRepo: string;
  readonly routesFile: string;
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly bodyLimitBytes: number;
  readonly drainTimeoutMs: number;
  readonly routeCacheTtlMs: number;
  readonly modelStabilityMs: number;
  readonly runtime: {
    readonly workers: number;
    readonly workerNice: number;
    readonly intraOpThreads: number;
    readonly interOpThreads: number;
    readonly graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  };
  readonly warmup: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads the config from an environment (process.env by default); overrides win, for tests. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    modelRepo: resolve(e.MODEL_REPO),
    routesFile: resolve(e.ROUTES_FILE),
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    logLevel: e.LOG_LEVEL,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    drainTimeoutMs: e.DRAIN_TIMEOUT_MS,
    routeCacheTtlMs: e.ROUTE_CACHE_TTL_MS,
    modelStabilityMs: e.MODEL_STABILITY_MS,
    runtime: Object.freeze({
      workers: e.RUNTIME_WORKERS,
      workerNice: e.RUNTIME_WORKER_NICE,
      intraOpThreads: e.RUNTIME_INTRA_OP_THREADS,
      interOpThreads: e.RUNTIME_INTER_OP_THREADS,
      graphOptimizationLevel: e.RUNTIME_GRAPH_OPTIMIZATION,
    }),
    warmup: e.MODEL_WARMUP === 'true',
    ...overrides,
  });
}
