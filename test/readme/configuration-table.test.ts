/**
 * Holds the README's Configuration table to src/config.ts: every row is a setting and every
 * setting a row, with the default SETTING_DEFAULTS gives it; and each setting reaches the config
 * field it documents (a non-default value changes that field and only reads back as itself).
 * Defaults are read from SETTING_DEFAULTS, never written again here.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { autoHttpLoops, loadConfig, SETTING_DEFAULTS, SETTING_NAMES, type Config, type SettingName } from '../../src/config.js';
import { markdownTableRows, readmeSection } from './readme.js';

/** The table as { name -> default cell }; throws on a row that is not `NAME` | default | meaning. */
function documentedSettings(): Map<string, string> {
  const rows = markdownTableRows(readmeSection('Configuration').body);
  const documented = new Map<string, string>();
  for (const row of rows) {
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(row[0] ?? '')?.[1];
    if (!name || row.length !== 3) throw new Error(`not a setting row of the Configuration table: | ${row.join(' | ')} |`);
    if (documented.has(name)) throw new Error(`${name} has two rows in the Configuration table`);
    documented.set(name, row[1]!);
  }
  return documented;
}

/**
 * Defaults the table states in words, and the SETTING_DEFAULTS value each stands for (a literal
 * default is written in backticks and compared as is). A new wording must be added here.
 */
const DEFAULTS_IN_WORDS: Record<string, (name: SettingName) => string | undefined> = {
  unset: () => undefined,
  'CPU count': () => String(availableParallelism()),
  // Derived from the rate in loadConfig (see the burst rows below), so nothing is filled in.
  'ceil(rps), at least 1': () => undefined,
  // Derived in loadConfig from ROUTE_CACHE_TTL_MS (the field check below holds the 1000).
  '`1000` (or `ROUTE_CACHE_TTL_MS` if longer)': () => undefined,
};

describe('the Configuration table', () => {
  it('has a row for every setting and a setting for every row', () => {
    expect([...documentedSettings().keys()].sort()).toEqual([...SETTING_NAMES].sort());
  });

  it.each(SETTING_NAMES.map((name) => [name]))('documents the default of %s', (name) => {
    const cell = documentedSettings().get(name);
    const literal = /^`([^`]*)`$/.exec(cell ?? '')?.[1];
    if (literal !== undefined) {
      expect(literal).toBe(SETTING_DEFAULTS[name]);
      return;
    }
    const words = cell === undefined ? undefined : DEFAULTS_IN_WORDS[cell];
    expect(words, `the default of ${name} is "${cell}": backticks for a literal, or a wording in DEFAULTS_IN_WORDS`).toBeDefined();
    expect(words!(name)).toBe(SETTING_DEFAULTS[name]);
  });
});

interface SettingCheck {
  /** A valid value other than the default. */
  readonly value: string;
  /** Other settings the value needs to be valid (e.g. a burst needs its rate). */
  readonly with?: Record<string, string>;
  /** The config field the README says the setting controls. */
  readonly field: (config: Config) => unknown;
  /** What that field holds for a value as written in the environment. */
  readonly means: (raw: string) => unknown;
  /** What the field holds when the setting is unset (only for settings without a default). */
  readonly unset?: unknown;
}

const number = (raw: string) => Number(raw);
const text = (raw: string) => raw;
const flag = (raw: string) => raw === 'true';
/** The id itself when it has the generated shape `<hostname>-<pid>-<4 hex>` of this process, else undefined. */
const generatedNodeIdShape = (id: string) => (new RegExp(`-${process.pid}-[0-9a-f]{4}$`).test(id) ? id : undefined);

/** One entry per setting: a setting without one fails the completeness test below. */
const CHECKS: Record<SettingName, SettingCheck> = {
  PORT: { value: '9090', field: (c) => c.port, means: number },
  HOST: { value: '127.0.0.1', field: (c) => c.host, means: text },
  MODEL_REPO: { value: '/srv/models', field: (c) => c.modelRepo, means: (raw) => resolve(raw) },
  ROUTES_FILE: { value: '/etc/switchyard/routes.json', field: (c) => c.routesFile, means: (raw) => resolve(raw) },
  REDIS_URL: { value: 'redis://10.0.0.1:6380', field: (c) => c.redisUrl, means: text, unset: undefined },
  REDIS_PREFIX: { value: 'blue:', field: (c) => c.redisPrefix, means: text },
  LOG_LEVEL: { value: 'debug', field: (c) => c.logLevel, means: text },
  BODY_LIMIT_BYTES: { value: '1024', field: (c) => c.bodyLimitBytes, means: number },
  DRAIN_TIMEOUT_MS: { value: '5', field: (c) => c.drainTimeoutMs, means: number },
  HTTP_LOOPS: { value: '3', field: (c) => c.httpLoops, means: (raw) => (raw === 'auto' ? autoHttpLoops(availableParallelism()) : Number(raw)) },
  SHUTDOWN_IDLE_GRACE_MS: { value: '7', field: (c) => c.http.shutdownIdleGraceMs, means: number },
  HTTP_HEADERS_TIMEOUT_MS: { value: '300', field: (c) => c.http.headersTimeoutMs, means: number },
  HTTP_REQUEST_TIMEOUT_MS: { value: '90000', field: (c) => c.http.requestTimeoutMs, means: number },
  ROUTE_CACHE_TTL_MS: { value: '40', field: (c) => c.routeCacheTtlMs, means: number },
  ROUTE_MAX_AGE_MS: { value: '2500', field: (c) => c.routeMaxAgeMs, means: number, unset: 1000 },
  SHADOW_MAX_CONCURRENCY: { value: '3', field: (c) => c.shadow.maxConcurrency, means: number },
  SHADOW_TIMEOUT_MS: { value: '250', field: (c) => c.shadow.timeoutMs, means: number },
  SHADOW_RTOL: { value: '0.001', field: (c) => c.shadow.rtol, means: number },
  SHADOW_ATOL: { value: '0.0001', field: (c) => c.shadow.atol, means: number },
  MODEL_STABILITY_MS: { value: '0', field: (c) => c.modelStabilityMs, means: number },
  MODEL_LOAD_TIMEOUT_MS: { value: '5000', field: (c) => c.modelLoadTimeoutMs, means: number },
  RUNTIME_WORKERS: { value: String(availableParallelism() + 3), field: (c) => c.runtime.workers, means: number },
  RUNTIME_WORKER_NICE: { value: '3', field: (c) => c.runtime.workerNice, means: number },
  RUNTIME_INTRA_OP_THREADS: { value: '3', field: (c) => c.runtime.intraOpThreads, means: number },
  RUNTIME_INTER_OP_THREADS: { value: '2', field: (c) => c.runtime.interOpThreads, means: number },
  RUNTIME_GRAPH_OPTIMIZATION: { value: 'basic', field: (c) => c.runtime.graphOptimizationLevel, means: text },
  MODEL_WARMUP: { value: 'false', field: (c) => c.warmup, means: flag },
  METRICS_ENABLED: { value: 'false', field: (c) => c.metricsEnabled, means: flag },
  ADMIN_TOKEN: { value: 'secret', field: (c) => c.adminToken, means: text, unset: undefined },
  API_KEYS: { value: 'k-a, k-b,', field: (c) => c.apiKeys, means: (raw) => raw.split(',').map((k) => k.trim()).filter(Boolean), unset: [] },
  RATE_LIMIT_CLIENT_RPS: { value: '2.5', field: (c) => c.rateLimits.client, means: (raw) => ({ rps: Number(raw), burst: Math.ceil(Number(raw)) }), unset: undefined },
  RATE_LIMIT_CLIENT_BURST: { value: '7', with: { RATE_LIMIT_CLIENT_RPS: '0.5' }, field: (c) => c.rateLimits.client?.burst, means: number, unset: 1 },
  RATE_LIMIT_MODEL_RPS: { value: '40', field: (c) => c.rateLimits.model, means: (raw) => ({ rps: Number(raw), burst: Number(raw) }), unset: undefined },
  RATE_LIMIT_MODEL_BURST: { value: '9', with: { RATE_LIMIT_MODEL_RPS: '2.2' }, field: (c) => c.rateLimits.model?.burst, means: number, unset: 3 },
  RATE_LIMIT_CACHE_TTL_MS: { value: '40', field: (c) => c.rateLimits.overrideTtlMs, means: number },
  SWITCHYARD_MODE: { value: 'worker', with: { REDIS_URL: 'redis://127.0.0.1:6379' }, field: (c) => c.mode, means: text },
  JOB_CONCURRENCY: { value: '0', field: (c) => c.jobs.concurrency, means: number },
  JOB_RETENTION_SECONDS: { value: '60', field: (c) => c.jobs.retentionSeconds, means: number },
  JOB_RETENTION_COUNT: { value: '10', field: (c) => c.jobs.retentionCount, means: number },
  JOB_MAX_RESULT_BYTES: { value: '100', field: (c) => c.jobs.maxResultBytes, means: number },
  JOB_LOCK_MS: { value: '500', field: (c) => c.jobs.lockMs, means: number },
  JOB_STALLED_INTERVAL_MS: { value: '500', field: (c) => c.jobs.stalledIntervalMs, means: number },
  JOB_MAX_STALLED: { value: '0', field: (c) => c.jobs.maxStalled, means: number },
  JOB_MAX_PENDING: { value: '5', field: (c) => c.jobs.maxPending, means: number },
  JOB_MAX_PENDING_BYTES: { value: '1024', field: (c) => c.jobs.maxPendingBytes, means: number },
  METRICS_REDIS_REFRESH_MS: { value: '250', field: (c) => c.metricsRedisRefreshMs, means: number },
  OUTLIER_CONSECUTIVE_FAILURES: { value: '3', field: (c) => c.upstreamHealth.consecutiveFailures, means: number },
  OUTLIER_BASE_EJECTION_MS: { value: '500', field: (c) => c.upstreamHealth.baseEjectionMs, means: number },
  OUTLIER_MAX_EJECTION_MS: { value: '60000', field: (c) => c.upstreamHealth.maxEjectionMs, means: number },
  OUTLIER_EJECTION_DECAY_MS: { value: '10000', field: (c) => c.upstreamHealth.ejectionDecayMs, means: number },
  BREAKER_ERROR_RATIO: { value: '0.25', field: (c) => c.upstreamHealth.breakerErrorRatio, means: number },
  BREAKER_MIN_REQUESTS: { value: '5', field: (c) => c.upstreamHealth.breakerMinRequests, means: number },
  BREAKER_WINDOW_MS: { value: '3000', field: (c) => c.upstreamHealth.breakerWindowMs, means: number },
  BREAKER_OPEN_MS: { value: '1000', field: (c) => c.upstreamHealth.breakerOpenMs, means: number },
  RETRY_BUDGET_RATIO: { value: '0.2', field: (c) => c.retryBudget.ratio, means: number },
  RETRY_BUDGET_MIN_PER_SECOND: { value: '0', field: (c) => c.retryBudget.minPerSecond, means: number },
  RETRY_BUDGET_WINDOW_MS: { value: '5000', field: (c) => c.retryBudget.windowMs, means: number },
  BACKENDS_FILE: { value: '/etc/switchyard/backends.json', field: (c) => c.backends.file, means: (raw) => resolve(raw) },
  BACKEND_PROBE_INTERVAL_MS: { value: '250', field: (c) => c.backends.probeIntervalMs, means: number },
  BACKEND_PROBE_TIMEOUT_MS: { value: '300', field: (c) => c.backends.probeTimeoutMs, means: number },
  BACKEND_HEALTHY_AFTER_PASSES: { value: '3', field: (c) => c.backends.healthyAfterPasses, means: number },
  // Unset: derived per process, so the check compares its form, not its value.
  FORWARD_CONNECTIONS: { value: '8', field: (c) => c.forward.connections, means: number },
  FORWARD_TIMEOUT_MS: { value: '1500', field: (c) => c.forward.timeoutMs, means: number },
  ROLLOUT_MIN_INTERVAL_MS: { value: '300', field: (c) => c.rolloutMinIntervalMs, means: number },
  TRUSTED_PROXIES: { value: '10.0.0.0/8, 127.0.0.1', field: (c) => c.trustedProxies, means: (raw) => raw.split(',').map((k) => k.trim()).filter(Boolean), unset: [] },
  // Unset: generated per process (<hostname>-<pid>-<4 hex>), so the check names the shape, not a value.
  NODE_ID: { value: 'node-a', field: (c) => (c.membership.nodeId === generatedNodeIdShape(c.membership.nodeId) ? 'generated' : c.membership.nodeId), means: text, unset: 'generated' },
  ADVERTISE_URL: { value: 'http://10.0.0.7:8080', field: (c) => c.membership.advertiseUrl, means: text, unset: undefined },
  NODE_HEARTBEAT_MS: { value: '500', field: (c) => c.membership.heartbeatMs, means: number },
  NODE_HEARTBEAT_TTL_MS: { value: '5000', field: (c) => c.membership.heartbeatTtlMs, means: number },
  NODE_LEAVE_GRACE_MS: { value: '0', field: (c) => c.membership.leaveGraceMs, means: number },
};

describe('each setting reaches the config field it documents', () => {
  it('has a check for every setting', () => {
    expect(Object.keys(CHECKS).sort()).toEqual([...SETTING_NAMES].sort());
  });

  it.each(SETTING_NAMES.map((name) => [name]))('%s', (name) => {
    const check = CHECKS[name];
    const base = check.with ?? {};
    const byDefault = check.field(loadConfig(base));
    const fallback = SETTING_DEFAULTS[name];
    // Unset: the field holds what the default means (or the documented unset value).
    expect(byDefault).toEqual(fallback === undefined ? check.unset : check.means(fallback));
    // An empty value counts as unset.
    expect(check.field(loadConfig({ ...base, [name]: '' }))).toEqual(byDefault);
    // Set: the field holds what the value means, which is not what the default gave.
    expect(check.value).not.toBe(fallback);
    const set = check.field(loadConfig({ ...base, [name]: check.value }));
    expect(set).toEqual(check.means(check.value));
    expect(set).not.toEqual(byDefault);
  });
});
