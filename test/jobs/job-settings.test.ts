/** The async job settings (env -> Config) and the Prefer header (RFC 7240) as the job API reads it. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { parsePrefer } from '../../src/http/prefer-header.js';

describe('job settings', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.mode).toBe('gateway');
    expect(config.jobs).toEqual({
      concurrency: 32,
      retentionSeconds: 86_400,
      retentionCount: 100_000,
      maxResultBytes: 8 * 1024 * 1024,
      lockMs: 30_000,
      stalledIntervalMs: 30_000,
      maxStalled: 3,
    });
  });

  it('refuses a worker replica without Redis or without concurrency, and bad numbers', () => {
    expect(() => loadConfig({ SWITCHYARD_MODE: 'worker' })).toThrow(/SWITCHYARD_MODE=worker .* needs REDIS_URL/);
    expect(() => loadConfig({ SWITCHYARD_MODE: 'worker', REDIS_URL: 'redis://127.0.0.1:6379', JOB_CONCURRENCY: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ SWITCHYARD_MODE: 'both' })).toThrow(/SWITCHYARD_MODE/);
    expect(() => loadConfig({ JOB_CONCURRENCY: '-1' })).toThrow(/JOB_CONCURRENCY/);
    expect(() => loadConfig({ JOB_RETENTION_SECONDS: '0' })).toThrow(/JOB_RETENTION_SECONDS/);
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
