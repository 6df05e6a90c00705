/** The settings of rate limits and API keys, and the window each limit becomes. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTING_DEFAULTS } from '../../src/config.js';
import { parsePolicy, windowOf } from '../../src/resilience/rate-limit-policy.js';

describe('configuration', () => {
  it('reads limits (burst defaults to one second, at least 1) and API keys', () => {
    const config = loadConfig({ RATE_LIMIT_CLIENT_RPS: '2.5', RATE_LIMIT_MODEL_RPS: '0.2', RATE_LIMIT_MODEL_BURST: '4', API_KEYS: ' a, b ,,c ' });
    const overrideTtlMs = Number(SETTING_DEFAULTS.RATE_LIMIT_CACHE_TTL_MS);
    expect(config.rateLimits).toEqual({ client: { rps: 2.5, burst: 3 }, model: { rps: 0.2, burst: 4 }, overrideTtlMs });
    expect(config.apiKeys).toEqual(['a', 'b', 'c']);
    expect(loadConfig({}).rateLimits).toEqual({ client: undefined, model: undefined, overrideTtlMs });
    expect(loadConfig({}).apiKeys).toEqual([]);
  });

  it('refuses a burst without a rate, and rates that are not positive numbers', () => {
    expect(() => loadConfig({ RATE_LIMIT_CLIENT_BURST: '5' })).toThrow(ConfigError);
    expect(() => loadConfig({ RATE_LIMIT_MODEL_RPS: '0' })).toThrow(/RATE_LIMIT_MODEL_RPS/);
    expect(() => loadConfig({ RATE_LIMIT_CLIENT_RPS: 'fast' })).toThrow(/RATE_LIMIT_CLIENT_RPS/);
    expect(() => loadConfig({ RATE_LIMIT_CLIENT_RPS: '1', RATE_LIMIT_CLIENT_BURST: '1.5' })).toThrow(/RATE_LIMIT_CLIENT_BURST/);
  });
});

describe('policies', () => {
  it('turns a bucket into burst points per burst/rps seconds (at least one second)', () => {
    expect(windowOf({ rps: 1, burst: 5 })).toEqual({ points: 5, durationSeconds: 5 });
    expect(windowOf({ rps: 0.1, burst: 5 })).toEqual({ points: 5, durationSeconds: 50 });
    expect(windowOf({ rps: 100, burst: 10 })).toEqual({ points: 10, durationSeconds: 1 });
  });

  it('parses overrides from Redis text, refusing what is not a limit', () => {
    expect(parsePolicy('20', '40')).toEqual({ rps: 20, burst: 40 });
    expect(parsePolicy('0.5', undefined)).toEqual({ rps: 0.5, burst: 1 });
    for (const [rps, burst] of [['x', '1'], ['-1', '1'], ['1', '0'], ['1', '2.5'], [undefined, '3'], ['', undefined]] as const) {
      expect(parsePolicy(rps, burst)).toBeUndefined();
    }
  });
});
