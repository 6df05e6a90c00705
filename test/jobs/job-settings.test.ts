/** The async job settings (env -> Config) and the Prefer header (RFC 7240) as the job API reads it. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTING_DEFAULTS } from '../../src/config.js';
import { parsePrefer } from '../../src/http/prefer-header.js';

describe('job settings', () => {
  it('maps the default of each job setting (SETTING_DEFAULTS, held to the README) into the config', () => {
    const config = loadConfig({});
    const d = SETTING_DEFAULTS;
    expect(config.mode).toBe(d.SWITCHYARD_MODE);
    expect(config.jobs).toEqual({
      concurrency: Number(d.JOB_CONCURRENCY),
      retentionSeconds: Number(d.JOB_RETENTION_SECONDS),
      retentionCount: Number(d.JOB_RETENTION_COUNT),
      maxResultBytes: Number(d.JOB_MAX_RESULT_BYTES),
      maxPending: Number(d.JOB_MAX_PENDING),
      maxPendingBytes: Number(d.JOB_MAX_PENDING_BYTES),
      lockMs: Number(d.JOB_LOCK_MS),
      stalledIntervalMs: Number(d.JOB_STALLED_INTERVAL_MS),
      maxStalled: Number(d.JOB_MAX_STALLED),
    });
  });

  it('refuses a worker replica without Redis or without concurrency, and bad numbers', () => {
    expect(() => loadConfig({ SWITCHYARD_MODE: 'worker' })).toThrow(/SWITCHYARD_MODE=worker .* needs REDIS_URL/);
    expect(() => loadConfig({ SWITCHYARD_MODE: 'worker', REDIS_URL: 'redis://127.0.0.1:6379', JOB_CONCURRENCY: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ SWITCHYARD_MODE: 'both' })).toThrow(/SWITCHYARD_MODE/);
    expect(() => loadConfig({ JOB_CONCURRENCY: '-1' })).toThrow(/JOB_CONCURRENCY/);
    expect(() => loadConfig({ JOB_RETENTION_SECONDS: '0' })).toThrow(/JOB_RETENTION_SECONDS/);
    expect(() => loadConfig({ JOB_MAX_PENDING: '-1' })).toThrow(/JOB_MAX_PENDING/);
    expect(loadConfig({ JOB_MAX_PENDING: '0', JOB_MAX_PENDING_BYTES: '0' }).jobs).toMatchObject({ maxPending: 0, maxPendingBytes: 0 });
    expect(loadConfig({ SWITCHYARD_MODE: 'worker', REDIS_URL: 'redis://127.0.0.1:6379' }).mode).toBe('worker');
  });
});

describe('Prefer header', () => {
  it('reads respond-async and wait among other preferences, case and spacing aside', () => {
    expect(parsePrefer(undefined)).toEqual({ respondAsync: false });
    expect(parsePrefer('respond-async')).toEqual({ respondAsync: true, waitSeconds: undefined });
    expect(parsePrefer('return=minimal, Respond-Async ; foo=bar, wait=10')).toEqual({ respondAsync: true, waitSeconds: 10 });
    expect(parsePrefer('wait="2.5"')).toEqual({ respondAsync: false, waitSeconds: 2.5 });
    expect(parsePrefer('wait=soon, respond-sync')).toEqual({ respondAsync: false, waitSeconds: undefined });
  });
});
