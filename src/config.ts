/**
 * Environment -> one frozen, validated Config. Every option has its default here and a row in
 * the README's configuration table; an invalid value stops start-up with a message naming it.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

const integer = (min: number) => z.coerce.number().int().min(min);

/**
 * Every setting the gateway reads from the environment, with its default as it would be written
 * there (undefined = unset). The one list of names and defaults: loadConfig fills in these values
 * before validating, and a test holds the list to the README's Configuration table.
 */
export const SETTING_DEFAULTS = Object.freeze({
  PORT: '8080',
  HOST: '0.0.0.0',
  MODEL_REPO: './model-repo',
  ROUTES_FILE: './config/routes.json',
  REDIS_URL: undefined,
  REDIS_PREFIX: 'switchyard:',
  LOG_LEVEL: 'info',
  BODY_LIMIT_BYTES: String(16 * 1024 * 1024),
  DRAIN_TIMEOUT_MS: '30000',
  SHUTDOWN_IDLE_GRACE_MS: '1000',
  HTTP_HEADERS_TIMEOUT_MS: '10000',
  HTTP_REQUEST_TIMEOUT_MS: '60000',
  ROUTE_CACHE_TTL_MS: '250',
  MODEL_STABILITY_MS: '500',
  MODEL_LOAD_TIMEOUT_MS: '120000',
  RUNTIME_WORKERS: String(availableParallelism()),
  RUNTIME_WORKER_NICE: '10',
  RUNTIME_INTRA_OP_THREADS: '1',
  RUNTIME_INTER_OP_THREADS: '1',
  RUNTIME_GRAPH_OPTIMIZATION: 'all',
  MODEL_WARMUP: 'true',
  METRICS_ENABLED: 'true',
  ADMIN_TOKEN: undefined,
  API_KEYS: undefined,
  // Unset bursts default to one second's worth of the rate (see rateLimit below).
  RATE_LIMIT_CLIENT_RPS: undefined,
  RATE_LIMIT_CLIENT_BURST: undefined,
  RATE_LIMIT_MODEL_RPS: undefined,
  RATE_LIMIT_MODEL_BURST: undefined,
  RATE_LIMIT_CACHE_TTL_MS: '250',
  SWITCHYARD_MODE: 'gateway',
  JOB_CONCURRENCY: '32',
  JOB_RETENTION_SECONDS: '86400',
  JOB_RETENTION_COUNT: '100000',
  JOB_MAX_RESULT_BYTES: String(8 * 1024 * 1024),
  JOB_LOCK_MS: '30000',
  JOB_STALLED_INTERVAL_MS: '30000',
  JOB_MAX_STALLED: '3',
} satisfies Record<SettingName, string | undefined>);

/** The names of every setting, in the order of SETTING_DEFAULTS. */
export const SETTING_NAMES = Object.freeze(Object.keys(SETTING_DEFAULTS) as SettingName[]);

// Validation only: defaults come from SETTING_DEFAULTS, so a setting without one is optional here.
const envSchema = z.object({
  PORT: integer(0).max(65535),
  HOST: z.string().min(1),
  MODEL_REPO: z.string().min(1),
  ROUTES_FILE: z.string().min(1),
  REDIS_URL: z.string().url().optional(),
  REDIS_PREFIX: z.string(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  BODY_LIMIT_BYTES: integer(1),
  DRAIN_TIMEOUT_MS: integer(0),
  SHUTDOWN_IDLE_GRACE_MS: integer(0),
  HTTP_HEADERS_TIMEOUT_MS: integer(1),
  HTTP_REQUEST_TIMEOUT_MS: integer(1),
  ROUTE_CACHE_TTL_MS: integer(1),
  MODEL_STABILITY_MS: integer(0),
  MODEL_LOAD_TIMEOUT_MS: integer(1),
  RUNTIME_WORKERS: integer(1),
  RUNTIME_WORKER_NICE: integer(0).max(19),
  RUNTIME_INTRA_OP_THREADS: integer(1),
  RUNTIME_INTER_OP_THREADS: integer(1),
  RUNTIME_GRAPH_OPTIMIZATION: z.enum(['disabled', 'basic', 'extended', 'all']),
  MODEL_WARMUP: z.enum(['true', 'false']),
  METRICS_ENABLED: z.enum(['true', 'false']),
  ADMIN_TOKEN: z.string().min(1).optional(),
  RATE_LIMIT_CLIENT_RPS: z.coerce.number().positive().optional(),
  RATE_LIMIT_CLIENT_BURST: integer(1).optional(),
  RATE_LIMIT_MODEL_RPS: z.coerce.number().positive().optional(),
  RATE_LIMIT_MODEL_BURST: integer(1).optional(),
  RATE_LIMIT_CACHE_TTL_MS: integer(1),
  API_KEYS: z.string().optional(),
  SWITCHYARD_MODE: z.enum(['gateway', 'worker']),
  JOB_CONCURRENCY: integer(0),
  JOB_RETENTION_SECONDS: integer(1),
  JOB_RETENTION_COUNT: integer(1),
  JOB_MAX_RESULT_BYTES: integer(1),
  JOB_LOCK_MS: integer(100),
  JOB_STALLED_INTERVAL_MS: integer(100),
  JOB_MAX_STALLED: integer(0),
});

export type SettingName = keyof typeof envSchema.shape;

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
  /** The HTTP server's socket settings. */
  readonly http: {
    /** A request's headers must all arrive within this (Node's headersTimeout); else 408. Default 10 s. */
    readonly headersTimeoutMs: number;
    /** A whole request, body included, must arrive within this (Node's requestTimeout); else 408. Default 60 s. */
    readonly requestTimeoutMs: number;
    /** At shutdown, how long an idle keep-alive socket may still bring a request (answered 503, Connection: close) before it is closed. Default 1 s. */
    readonly shutdownIdleGraceMs: number;
  };
  readonly routeCacheTtlMs: number;
  readonly modelStabilityMs: number;
  /** Longest a model load (with its warmup) may take before the version is FAILED ("load timed out after N ms"). Default 120 s. */
  readonly modelLoadTimeoutMs: number;
  readonly runtime: {
    readonly workers: number;
    readonly workerNice: number;
    readonly intraOpThreads: number;
    readonly interOpThreads: number;
    readonly graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  };
  readonly warmup: boolean;
  /** Prometheus metrics on GET /metrics; false removes their recording entirely. Default true. */
  readonly metricsEnabled: boolean;
  /** Bearer token of the /admin endpoints; unset = they answer 404. */
  readonly adminToken: string | undefined;
  /** Token buckets (burst at once, rps sustained); undefined = no such limit. */
  readonly rateLimits: {
    readonly client: { readonly rps: number; readonly burst: number } | undefined;
    readonly model: { readonly rps: number; readonly burst: number } | undefined;
    /** Age after which a per-model override in Redis is re-read. */
    readonly overrideTtlMs: number;
  };
  /** Accepted API keys for the inference API; empty = open. */
  readonly apiKeys: readonly string[];
  /** `gateway` serves the API (and works jobs); `worker` only works async jobs (needs REDIS_URL). */
  readonly mode: 'gateway' | 'worker';
  /** Async predictions (only with REDIS_URL). */
  readonly jobs: {
    /** Jobs this replica runs at once; 0 = it works none (it still accepts them). */
    readonly concurrency: number;
    readonly retentionSeconds: number;
    /** Finished jobs kept at most per outcome. */
    readonly retentionCount: number;
    readonly maxResultBytes: number;
    /** A dead replica's jobs go back to the queue after this long. */
    readonly lockMs: number;
    readonly stalledIntervalMs: number;
    /** Recoveries from dead replicas before a job fails. */
    readonly maxStalled: number;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads the config from an environment (process.env by default); overrides win, for tests. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  // An empty value counts as unset (so `FOO= npm start` falls back to the default).
  const given = Object.entries(env).filter(([name, v]) => v !== undefined && v !== '' && name in SETTING_DEFAULTS);
  const defaults = Object.entries(SETTING_DEFAULTS).filter(([, v]) => v !== undefined);
  const parsed = envSchema.safeParse(Object.fromEntries([...defaults, ...given]));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  if (e.SWITCHYARD_MODE === 'worker' && e.REDIS_URL === undefined) {
    throw new ConfigError('Invalid configuration: SWITCHYARD_MODE=worker works async jobs from Redis and needs REDIS_URL');
  }
  if (e.SWITCHYARD_MODE === 'worker' && e.JOB_CONCURRENCY === 0) {
    throw new ConfigError('Invalid configuration: SWITCHYARD_MODE=worker with JOB_CONCURRENCY=0 would do nothing');
  }
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigError('Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)');
  }
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
    http: Object.freeze({
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      shutdownIdleGraceMs: e.SHUTDOWN_IDLE_GRACE_MS,
    }),
    routeCacheTtlMs: e.ROUTE_CACHE_TTL_MS,
    modelStabilityMs: e.MODEL_STABILITY_MS,
    modelLoadTimeoutMs: e.MODEL_LOAD_TIMEOUT_MS,
    runtime: Object.freeze({
      workers: e.RUNTIME_WORKERS,
      workerNice: e.RUNTIME_WORKER_NICE,
      intraOpThreads: e.RUNTIME_INTRA_OP_THREADS,
      interOpThreads: e.RUNTIME_INTER_OP_THREADS,
      graphOptimizationLevel: e.RUNTIME_GRAPH_OPTIMIZATION,
    }),
    warmup: e.MODEL_WARMUP === 'true',
    metricsEnabled: e.METRICS_ENABLED === 'true',
    adminToken: e.ADMIN_TOKEN,
    rateLimits: Object.freeze({
      client: rateLimit('RATE_LIMIT_CLIENT', e.RATE_LIMIT_CLIENT_RPS, e.RATE_LIMIT_CLIENT_BURST),
      model: rateLimit('RATE_LIMIT_MODEL', e.RATE_LIMIT_MODEL_RPS, e.RATE_LIMIT_MODEL_BURST),
      overrideTtlMs: e.RATE_LIMIT_CACHE_TTL_MS,
    }),
    apiKeys: Object.freeze((e.API_KEYS ?? '').split(',').map((key) => key.trim()).filter((key) => key !== '')),
    mode: e.SWITCHYARD_MODE,
    jobs: Object.freeze({
      concurrency: e.JOB_CONCURRENCY,
      retentionSeconds: e.JOB_RETENTION_SECONDS,
      retentionCount: e.JOB_RETENTION_COUNT,
      maxResultBytes: e.JOB_MAX_RESULT_BYTES,
      lockMs: e.JOB_LOCK_MS,
      stalledIntervalMs: e.JOB_STALLED_INTERVAL_MS,
      maxStalled: e.JOB_MAX_STALLED,
    }),
    ...overrides,
  });
}

/** A rate limit from its two settings; the burst defaults to one second's worth (at least 1). */
function rateLimit(name: string, rps: number | undefined, burst: number | undefined): { rps: number; burst: number } | undefined {
  if (rps === undefined) {
    if (burst !== undefined) throw new ConfigError(`Invalid configuration: ${name}_BURST is set without ${name}_RPS`);
    return undefined;
  }
  return Object.freeze({ rps, burst: burst ?? Math.max(1, Math.ceil(rps)) });
}
