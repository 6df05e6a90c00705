/** The check of one static backend entry (src/cluster/backend-entry.ts), shared by the file and Redis. */
import { describe, expect, it } from 'vitest';
import { parseBackendEntry } from '../../src/cluster/backend-entry.js';
import { failProbe, newProbeState, recordProbe } from '../../src/cluster/backend-probe.js';

const refusal = (name: string, value: unknown): string => {
  try {
    parseBackendEntry(name, value);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('parseBackendEntry', () => {
  it('normalises URLs (no trailing slash, duplicates once), sorts and dedupes versions, defaults the weight to 1', () => {
    const entry = parseBackendEntry('triton-a', { urls: ['http://10.0.0.5:8000/', 'http://10.0.0.5:8000', 'https://kserve.example/v1/'], models: { resnet: [2, 1, 2] } });
    expect(entry.urls).toEqual(['http://10.0.0.5:8000', 'https://kserve.example/v1']);
    expect([...entry.models]).toEqual([['resnet', [1, 2]]]);
    expect(entry.weight).toBe(1);
    expect(parseBackendEntry('b', { urls: ['http://h:1'], models: { m: [1] }, weight: 2.5 }).weight).toBe(2.5);
  });

  it.each([
    ['ftp URL', { urls: ['ftp://h/'], models: { m: [1] } }, 'not an http(s) URL'],
    ['not a URL', { urls: ['h:1:2'], models: { m: [1] } }, 'not'],
    ['credentials', { urls: ['http://user:pw@h:1'], models: { m: [1] } }, 'credentials'],
    ['query', { urls: ['http://h:1/?x=1'], models: { m: [1] } }, 'no query'],
    ['no URL', { urls: [], models: { m: [1] } }, 'at least one URL'],
    ['too many URLs', { urls: Array.from({ length: 33 }, (_, i) => `http://h:${i + 1}`), models: { m: [1] } }, 'at most 32'],
    ['no model', { urls: ['http://h:1'], models: {} }, 'at least one model'],
    ['bad model name', { urls: ['http://h:1'], models: { '../x': [1] } }, 'model name'],
    ['version 0', { urls: ['http://h:1'], models: { m: [0] } }, 'positive integer'],
    ['version as text', { urls: ['http://h:1'], models: { m: ['1'] } }, 'models.m.0'],
    ['too many versions', { urls: ['http://h:1'], models: { m: Array.from({ length: 17 }, (_, i) => i + 1) } }, 'at most 16'],
    ['weight 0', { urls: ['http://h:1'], models: { m: [1] }, weight: 0 }, 'weight'],
    ['huge weight', { urls: ['http://h:1'], models: { m: [1] }, weight: 1e9 }, 'weight'],
    ['unknown field', { urls: ['http://h:1'], models: { m: [1] }, url: 'http://h:2' }, 'url'],
    ['not an object', [1, 2], 'expected object'],
    ['null', null, 'expected object'],
  ])('refuses %s', (_label, value, reason) => {
    expect(refusal('b', value)).toContain(reason);
  });

  it('refuses a bad backend name and a `__proto__` model key (an own key after JSON.parse)', () => {
    expect(refusal('__proto__', { urls: ['http://h:1'], models: { m: [1] } })).toContain('name is not valid');
    expect(refusal('b', JSON.parse('{"urls": ["http://h:1"], "models": {"m": [1], "__proto__": [1]}}'))).toContain('__proto__');
  });
});

describe('probe states', () => {
  it('the first pass admits; after a failure it takes healthyAfterPasses consecutive passes, and a failure in between starts over', () => {
    const state = newProbeState();
    expect(state.healthy).toBe(false);
    expect(recordProbe(state, undefined, 2)).toBe(true);
    expect(state.healthy).toBe(true);
    expect(recordProbe(state, 'HTTP 503', 2)).toBe(true);
    expect(recordProbe(state, undefined, 2)).toBe(false);
    expect(recordProbe(state, 'HTTP 503', 2)).toBe(false);
    expect(recordProbe(state, undefined, 2)).toBe(false);
    expect(state.healthy).toBe(false);
    expect(recordProbe(state, undefined, 2)).toBe(true);
    expect(state.healthy).toBe(true);
    failProbe(state, 'server not ready', 3);
    expect(state).toMatchObject({ healthy: false, passes: 0, needed: 3, lastError: 'server not ready' });
  });
});
