/**
 * Environment -> one frozen, validated Config. Every option has its default here and a row in
 * the README's configuration table; an invalid value stops start-up with a message naming it.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

const integer = (min: number) => z.coerce.number().int().min(min);

/** What a NODE_ID may be: safe in a Redis key and a SCAN pattern (no glob characters). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** The README's "a raw redis-cli edit reaches every replica within 1 s". */
const DEFAULT_ROUTE_MAX_AGE_MS = 1000;

/** HTTP_LOOPS=auto uses at most this many loops: each is a full process with its own model copies. */
export const MAX_AUTO_HTTP_LOOPS = 8;

/**
 * What HTTP_LOOPS=auto (the default) runs on a machine of `parallelism` cores: half of them, at
 * least 1 and at most MAX_AUTO_HTTP_LOOPS. The other half is for the inference threads the loops
 * feed (RUNTIME_WORKERS is split between the loops). Half, because a saturated loop takes a whole
 * core and its inference threads need cores of their own; on 2 cores a second loop measured no
 * faster and cost a second copy of every model (README, "Several HTTP loops").
 */
export function autoHttpLoops(parallelism: number): number {
  return Math.max(1, Math.min(MAX_AUTO_HTTP_LOOPS, Math.floor(parallelism / 2)));
}
/** Most HTTP_LOOPS one may ask for. */
const MAX_HTTP_LOOPS = 64;

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
  // `auto` = autoHttpLoops(availableParallelism()): half the cores, 1 to MAX_AUTO_HTTP_LOOPS.
  HTTP_LOOPS: 'auto',
  HTTP_HEADERS_TIMEOUT_MS: '10000',
  HTTP_REQUEST_TIMEOUT_MS: '60000',
  ROUTE_CACHE_TTL_MS: '250',
  // Unset: 1000, or ROUTE_CACHE_TTL_MS when that is longer (see routeMaxAgeMs below).
  ROUTE_MAX_AGE_MS: undefined,
  // Shadow traffic (the routing table's `shadow` field, src/shadow/).
  SHADOW_MAX_CONCURRENCY: '8',
  SHADOW_TIMEOUT_MS: '1000',
  SHADOW_RTOL: '1e-5',
  SHADOW_ATOL: '1e-6',
  MODEL_STABILITY_MS: '500',
  MODEL_LOAD_TIMEOUT_MS: '120000',
  RUNTIME_WORKERS: String(availableParallelism()),
  RUNTIME_WORKER_NICE: '10',
  RUNTIME_INTRA_OP_THREADS: '1',
  RUNTIME_INTER_OP_THREADS: '1',
  RUNTIME_GRAPH_OPTIMIZATION: 'all',
  MODEL_WARMUP: 'true',
  METRICS_ENABLED: 'true',
  METRICS_REDIS_REFRESH_MS: '5000',
  ADMIN_TOKEN: undefined,
  API_KEYS: undefined,
  // Unset bursts default to one second's worth of the rate (see rateLimit below).
  RATE_LIMIT_CLIENT_RPS: undefined,
  RATE_LIMIT_CLIENT_BURST: undefined,
  RATE_LIMIT_MODEL_RPS: undefined,
  RATE_LIMIT_MODEL_BURST: undefined,
  RATE_LIMIT_CACHE_TTL_MS: '250',
  TRUSTED_PROXIES: undefined,
  SWITCHYARD_MODE: 'gateway',
  JOB_CONCURRENCY: '32',
  JOB_RETENTION_SECONDS: '86400',
  JOB_RETENTION_COUNT: '100000',
  JOB_MAX_RESULT_BYTES: String(8 * 1024 * 1024),
  JOB_MAX_PENDING: '10000',
  JOB_MAX_PENDING_BYTES: String(256 * 1024 * 1024),
  JOB_LOCK_MS: '30000',
  JOB_STALLED_INTERVAL_MS: '30000',
  JOB_MAX_STALLED: '3',
  // Scale-out health (src/cluster/upstream-health-tracker.ts, retry-budget.ts).
  OUTLIER_CONSECUTIVE_FAILURES: '5',
  OUTLIER_BASE_EJECTION_MS: '2000',
  OUTLIER_MAX_EJECTION_MS: '30000',
  OUTLIER_EJECTION_DECAY_MS: '30000',
  BREAKER_ERROR_RATIO: '0.5',
  BREAKER_MIN_REQUESTS: '20',
  BREAKER_WINDOW_MS: '10000',
  BREAKER_OPEN_MS: '5000',
  RETRY_BUDGET_RATIO: '0.1',
  RETRY_BUDGET_MIN_PER_SECOND: '3',
  RETRY_BUDGET_WINDOW_MS: '10000',
  // Static V2 backends (src/cluster/static-backends.ts).
  BACKENDS_FILE: './config/backends.json',
  BACKEND_PROBE_INTERVAL_MS: '5000',
  BACKEND_PROBE_TIMEOUT_MS: '1000',
  BACKEND_HEALTHY_AFTER_PASSES: '2',
  // Scale-out, forwarding (issue #14).
  FORWARD_CONNECTIONS: '64',
  FORWARD_TIMEOUT_MS: '30000',
  // Scale-out membership (src/cluster/node-heartbeat.ts, node-directory.ts); only with REDIS_URL.
  // Unset NODE_ID: <hostname>-<pid>-<4 random hex>; unset ADVERTISE_URL: http://<HOST>:<bound port>, 0.0.0.0 and :: as 127.0.0.1.
  NODE_ID: undefined,
  ADVERTISE_URL: undefined,
  NODE_HEARTBEAT_MS: '1000',
  NODE_HEARTBEAT_TTL_MS: '3000',
  NODE_LEAVE_GRACE_MS: '1500',
  // Rollouts (issue #16): the shortest interval_ms a rollout may ask for (short ones are for tests).
  ROLLOUT_MIN_INTERVAL_MS: '1000',
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
  HTTP_LOOPS: z.union([z.literal('auto'), integer(1).max(MAX_HTTP_LOOPS)]),
  HTTP_HEADERS_TIMEOUT_MS: integer(1),
  HTTP_REQUEST_TIMEOUT_MS: integer(1),
  ROUTE_CACHE_TTL_MS: integer(1),
  ROUTE_MAX_AGE_MS: integer(1).optional(),
  SHADOW_MAX_CONCURRENCY: integer(0),
  SHADOW_TIMEOUT_MS: integer(1),
  SHADOW_RTOL: z.coerce.number().min(0),
  SHADOW_ATOL: z.coerce.number().min(0),
  MODEL_STABILITY_MS: integer(0),
  MODEL_LOAD_TIMEOUT_MS: integer(1),
  RUNTIME_WORKERS: integer(1),
  RUNTIME_WORKER_NICE: integer(0).max(19),
  RUNTIME_INTRA_OP_THREADS: integer(1),
  RUNTIME_INTER_OP_THREADS: integer(1),
  RUNTIME_GRAPH_OPTIMIZATION: z.enum(['disabled', 'basic', 'extended', 'all']),
  MODEL_WARMUP: z.enum(['true', 'false']),
  METRICS_ENABLED: z.enum(['true', 'false']),
  METRICS_REDIS_REFRESH_MS: integer(10),
  ADMIN_TOKEN: z.string().min(1).optional(),
  RATE_LIMIT_CLIENT_RPS: z.coerce.number().positive().optional(),
  RATE_LIMIT_CLIENT_BURST: integer(1).optional(),
  RATE_LIMIT_MODEL_RPS: z.coerce.number().positive().optional(),
  RATE_LIMIT_MODEL_BURST: integer(1).optional(),
  RATE_LIMIT_CACHE_TTL_MS: integer(1),
  API_KEYS: z.string().optional(),
  TRUSTED_PROXIES: z
    .string()
    .optional()
    .refine((list) => list === undefined || splitList(list).every(isAddressOrSubnet), {
      message: 'must be a comma-separated list of IP addresses or CIDR subnets, e.g. 10.0.0.0/8,192.168.1.7,fd00::/8',
    }),
  SWITCHYARD_MODE: z.enum(['gateway', 'worker']),
  JOB_CONCURRENCY: integer(0),
  JOB_RETENTION_SECONDS: integer(1),
  JOB_RETENTION_COUNT: integer(1),
  JOB_MAX_RESULT_BYTES: integer(1),
  JOB_MAX_PENDING: integer(0),
  JOB_MAX_PENDING_BYTES: integer(0),
  JOB_LOCK_MS: integer(100),
  JOB_STALLED_INTERVAL_MS: integer(100),
  JOB_MAX_STALLED: integer(0),
  OUTLIER_CONSECUTIVE_FAILURES: integer(1),
  OUTLIER_BASE_EJECTION_MS: integer(1),
  OUTLIER_MAX_EJECTION_MS: integer(1),
  OUTLIER_EJECTION_DECAY_MS: integer(1),
  BREAKER_ERROR_RATIO: z.coerce.number().gt(0).max(1),
  BREAKER_MIN_REQUESTS: integer(1),
  BREAKER_WINDOW_MS: integer(10),
  BREAKER_OPEN_MS: integer(1),
  RETRY_BUDGET_RATIO: z.coerce.number().min(0),
  RETRY_BUDGET_MIN_PER_SECOND: z.coerce.number().min(0),
  RETRY_BUDGET_WINDOW_MS: integer(10),
  BACKENDS_FILE: z.string().min(1),
  BACKEND_PROBE_INTERVAL_MS: integer(10),
  BACKEND_PROBE_TIMEOUT_MS: integer(1),
  BACKEND_HEALTHY_AFTER_PASSES: integer(1).max(100),
  FORWARD_CONNECTIONS: integer(1).max(4096),
  FORWARD_TIMEOUT_MS: integer(1).max(2_147_483_647),
  NODE_ID: z.string().regex(NODE_ID_PATTERN, `must match ${NODE_ID_PATTERN.source} (letters, digits, _ . : -; at most 128)`).optional(),
  ADVERTISE_URL: z
    .string()
    .url()
    .refine((url) => /^https?:\/\/[^/?#]+\/?$/.test(url), { message: 'must be a base URL such as http://10.0.0.7:8080 (http or https, no path)' })
    .optional(),
  NODE_HEARTBEAT_MS: integer(50),
  NODE_HEARTBEAT_TTL_MS: integer(100),
  NODE_LEAVE_GRACE_MS: integer(0),
  ROLLOUT_MIN_INTERVAL_MS: integer(1).max(86_400_000),
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
  /** HTTP event loops (processes sharing the port, src/loops/); 1 = the gateway is this one process. */
  readonly httpLoops: number;
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
  /** A cached routing table older than this is read again before a request uses it (the bound on a raw HSET). Default 1 s, or routeCacheTtlMs if longer. */
  readonly routeMaxAgeMs: number;
  /** Shadow traffic (ShadowMirrorOptions, src/shadow/shadow-mirror.ts). */
  readonly shadow: {
    /** Shadow runs at once at most; more are dropped (0 = every shadow is dropped). Default 8. */
    readonly maxConcurrency: number;
    /** A shadow run that has not started this long after its primary answered is dropped. Default 1000 ms. */
    readonly timeoutMs: number;
    /** Default 1e-5. */
    readonly rtol: number;
    /** Default 1e-6. */
    readonly atol: number;
  };
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
  /** How often the series read from Redis (the queue-wide job counts) are refreshed in the background. Default 5 s. */
  readonly metricsRedisRefreshMs: number;
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
  /** Proxies whose X-Forwarded-For is believed (addresses and CIDR subnets); empty = the header is ignored. */
  readonly trustedProxies: readonly string[];
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
    /** Unfinished jobs (queued or running) across every replica at most; 0 = no cap. */
    readonly maxPending: number;
    /** Bytes of input the unfinished jobs may keep in Redis at most; 0 = no cap. */
    readonly maxPendingBytes: number;
    /** A dead replica's jobs go back to the queue after this long. */
    readonly lockMs: number;
    readonly stalledIntervalMs: number;
    /** Recoveries from dead replicas before a job fails. */
    readonly maxStalled: number;
  };
  /** Passive health of upstream targets (UpstreamHealthTrackerOptions, src/cluster/upstream-health-tracker.ts). */
  readonly upstreamHealth: {
    /** Failures in a row that eject a target. Default 5. */
    readonly consecutiveFailures: number;
    /** First ejection, ms; doubles with each further one. Default 2 s. */
    readonly baseEjectionMs: number;
    /** Longest ejection, ms. Default 30 s. */
    readonly maxEjectionMs: number;
    /** Each this long without an ejection forgets one (the next is shorter again). Default 30 s. */
    readonly ejectionDecayMs: number;
    /** A target's breaker opens at this error ratio over the window... Default 0.5. */
    readonly breakerErrorRatio: number;
    /** ...once the window holds this many requests. Default 20. */
    readonly breakerMinRequests: number;
    /** The breaker's sliding window, ms. Default 10 s. */
    readonly breakerWindowMs: number;
    /** Time open before one probe is let through (half-open), ms. Default 5 s. */
    readonly breakerOpenMs: number;
  };
  /** Retries of forwarded requests (RetryBudgetOptions, src/cluster/retry-budget.ts). */
  readonly retryBudget: {
    /** Retries per first attempt at most. Default 0.1. */
    readonly ratio: number;
    /** Retries per second allowed whatever the traffic. Default 3. */
    readonly minPerSecond: number;
    /** Sliding window, ms. Default 10 s. */
    readonly windowMs: number;
  };
  /** Static V2 backends (Triton, KServe, MLServer): where they are listed and how they are probed. */
  readonly backends: {
    /** The backends file (absent = none from the file). Default ./config/backends.json. */
    readonly file: string;
    /** Time between probe rounds. Default 5 s. */
    readonly probeIntervalMs: number;
    /** Bound on each probe request. Default 1 s. */
    readonly probeTimeoutMs: number;
    /** Consecutive passes that bring a URL or version back after a failed probe. Default 2. */
    readonly healthyAfterPasses: number;
  };
  /** Shortest interval_ms a rollout may ask for (ROLLOUT_MIN_INTERVAL_MS). Default 1000. */
  readonly rolloutMinIntervalMs: number;
  /** The forwarding hop to other nodes and V2 backends (src/cluster/). */
  readonly forward: {
    /** Keep-alive connections per upstream at most. Default 64. */
    readonly connections: number;
    /** Longest one forwarded attempt may take when the client's deadline is later or absent. Default 30 s. */
    readonly timeoutMs: number;
  };
  /** Scale-out membership: this node's heartbeat in Redis and its view of the others (only with REDIS_URL). */
  readonly membership: {
    /** This node's id in `<prefix>nodes:<id>`; default `<hostname>-<pid>-<random>` (shared by the HTTP loops of one server). */
    readonly nodeId: string;
    /** The base URL other nodes reach this one at; undefined = http://HOST:<bound port> (0.0.0.0 and :: as 127.0.0.1). */
    readonly advertiseUrl: string | undefined;
    /** How often the heartbeat is written and the others' read. Default 1 s. */
    readonly heartbeatMs: number;
    /** The heartbeat's TTL: a node not heard from for this long is out. Default 3 s. */
    readonly heartbeatTtlMs: number;
    /** At shutdown, after the heartbeat is deleted and while other nodes are known and this one has versions READY, how long requests are still taken before the drain (peers' directories catch up). Default 1.5 s. */
    readonly leaveGraceMs: number;
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
  if (e.ROUTE_MAX_AGE_MS !== undefined && e.ROUTE_MAX_AGE_MS < e.ROUTE_CACHE_TTL_MS) {
    throw new ConfigError('Invalid configuration: ROUTE_MAX_AGE_MS must not be below ROUTE_CACHE_TTL_MS (a table is refreshed in the background before it is too old to use)');
  }
  if (e.OUTLIER_BASE_EJECTION_MS > e.OUTLIER_MAX_EJECTION_MS) {
    throw new ConfigError('Invalid configuration: OUTLIER_BASE_EJECTION_MS must not exceed OUTLIER_MAX_EJECTION_MS (the first ejection is the shortest)');
  }
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigError('Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)');
  }
  if (e.NODE_HEARTBEAT_TTL_MS <= e.NODE_HEARTBEAT_MS) {
    throw new ConfigError('Invalid configuration: NODE_HEARTBEAT_TTL_MS must exceed NODE_HEARTBEAT_MS (else a live node drops out between two heartbeats; about 3x is right)');
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
    httpLoops: e.HTTP_LOOPS === 'auto' ? autoHttpLoops(availableParallelism()) : e.HTTP_LOOPS,
    http: Object.freeze({
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      shutdownIdleGraceMs: e.SHUTDOWN_IDLE_GRACE_MS,
    }),
    routeCacheTtlMs: e.ROUTE_CACHE_TTL_MS,
    routeMaxAgeMs: e.ROUTE_MAX_AGE_MS ?? Math.max(DEFAULT_ROUTE_MAX_AGE_MS, e.ROUTE_CACHE_TTL_MS),
    shadow: Object.freeze({ maxConcurrency: e.SHADOW_MAX_CONCURRENCY, timeoutMs: e.SHADOW_TIMEOUT_MS, rtol: e.SHADOW_RTOL, atol: e.SHADOW_ATOL }),
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
    metricsRedisRefreshMs: e.METRICS_REDIS_REFRESH_MS,
    adminToken: e.ADMIN_TOKEN,
    rateLimits: Object.freeze({
      client: rateLimit('RATE_LIMIT_CLIENT', e.RATE_LIMIT_CLIENT_RPS, e.RATE_LIMIT_CLIENT_BURST),
      model: rateLimit('RATE_LIMIT_MODEL', e.RATE_LIMIT_MODEL_RPS, e.RATE_LIMIT_MODEL_BURST),
      overrideTtlMs: e.RATE_LIMIT_CACHE_TTL_MS,
    }),
    apiKeys: Object.freeze(splitList(e.API_KEYS ?? '')),
    trustedProxies: Object.freeze(splitList(e.TRUSTED_PROXIES ?? '')),
    mode: e.SWITCHYARD_MODE,
    jobs: Object.freeze({
      concurrency: e.JOB_CONCURRENCY,
      retentionSeconds: e.JOB_RETENTION_SECONDS,
      retentionCount: e.JOB_RETENTION_COUNT,
      maxResultBytes: e.JOB_MAX_RESULT_BYTES,
      maxPending: e.JOB_MAX_PENDING,
      maxPendingBytes: e.JOB_MAX_PENDING_BYTES,
      lockMs: e.JOB_LOCK_MS,
      stalledIntervalMs: e.JOB_STALLED_INTERVAL_MS,
      maxStalled: e.JOB_MAX_STALLED,
    }),
    upstreamHealth: Object.freeze({
      consecutiveFailures: e.OUTLIER_CONSECUTIVE_FAILURES,
      baseEjectionMs: e.OUTLIER_BASE_EJECTION_MS,
      maxEjectionMs: e.OUTLIER_MAX_EJECTION_MS,
      ejectionDecayMs: e.OUTLIER_EJECTION_DECAY_MS,
      breakerErrorRatio: e.BREAKER_ERROR_RATIO,
      breakerMinRequests: e.BREAKER_MIN_REQUESTS,
      breakerWindowMs: e.BREAKER_WINDOW_MS,
      breakerOpenMs: e.BREAKER_OPEN_MS,
    }),
    retryBudget: Object.freeze({
      ratio: e.RETRY_BUDGET_RATIO,
      minPerSecond: e.RETRY_BUDGET_MIN_PER_SECOND,
      windowMs: e.RETRY_BUDGET_WINDOW_MS,
    }),
    backends: Object.freeze({
      file: resolve(e.BACKENDS_FILE),
      probeIntervalMs: e.BACKEND_PROBE_INTERVAL_MS,
      probeTimeoutMs: e.BACKEND_PROBE_TIMEOUT_MS,
      healthyAfterPasses: e.BACKEND_HEALTHY_AFTER_PASSES,
    }),
    rolloutMinIntervalMs: e.ROLLOUT_MIN_INTERVAL_MS,
    forward: Object.freeze({ connections: e.FORWARD_CONNECTIONS, timeoutMs: e.FORWARD_TIMEOUT_MS }),
    membership: Object.freeze({
      nodeId: e.NODE_ID ?? defaultNodeId(),
      advertiseUrl: e.ADVERTISE_URL?.replace(/\/+$/, ''),
      heartbeatMs: e.NODE_HEARTBEAT_MS,
      heartbeatTtlMs: e.NODE_HEARTBEAT_TTL_MS,
      leaveGraceMs: e.NODE_LEAVE_GRACE_MS,
    }),
    ...overrides,
  });
}

/** NODE_ID's default: the host name (cut to what NODE_ID allows), the pid and 4 random hex digits. */
export function defaultNodeId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_.:-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100) || 'node';
  return `${host}-${process.pid}-${randomBytes(2).toString('hex')}`;
}

/** The non-empty, trimmed entries of a comma-separated list. */
function splitList(list: string): string[] {
  return list.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
}

/** `10.1.2.3`, `10.0.0.0/8`, `fd00::1`, `fd00::/8` (the prefix within the family's bits). */
function isAddressOrSubnet(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0 || address.includes('%')) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A rate limit from its two settings; the burst defaults to one second's worth (at least 1). */
function rateLimit(name: string, rps: number | undefined, burst: number | undefined): { rps: number; burst: number } | undefined {
  if (rps === undefined) {
    if (burst !== undefined) throw new ConfigError(`Invalid configuration: ${name}_BURST is set without ${name}_RPS`);
    return undefined;
  }
  return Object.freeze({ rps, burst: burst ?? Math.max(1, Math.ceil(rps)) });
}
