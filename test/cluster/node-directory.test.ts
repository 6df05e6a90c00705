/**
 * The node directory over real Redis (a random prefix): heartbeats written by real NodeHeartbeat
 * writers are seen, this node is left out, malformed entries are skipped (and logged once), an
 * entry that stops changing drops out after its TTL, a lost Redis keeps the last set (stale), and
 * the latency window's quantiles.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { LatencyWindow } from '../../src/cluster/latency-window.js';
import { NodeDirectory } from '../../src/cluster/node-directory.js';
import { NodeHeartbeat } from '../../src/cluster/node-heartbeat.js';
import { heartbeatKey } from '../../src/cluster/node-heartbeat-record.js';
import { defaultAdvertiseUrl, NodeReport, type VersionLoad } from '../../src/cluster/node-report.js';
import { loadConfig } from '../../src/config.js';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, sleep } from '../support/eventually.js';
import { captureLog } from '../support/log-capture.js';
import { randomPrefix, startPrivateRedis, testRedis } from '../support/redis.js';

function report(id: string, port: number, versions: VersionLoad[] = [{ model: 'linear', version: 1, inFlight: 2, queued: 3 }]): NodeReport {
  return new NodeReport({ id, url: () => `http://127.0.0.1:${port}`, versions: () => versions, latencies: new LatencyWindow(), ttlMs: 3000 });
}

function heartbeat(redis: Redis, prefix: string, nodeReport: NodeReport, intervalMs = 100): NodeHeartbeat {
  const beat = new NodeHeartbeat({ redis, prefix, report: nodeReport, intervalMs, ttlMs: 3000 });
  beat.start();
  cleanupAfter(() => beat.leave());
  return beat;
}

function directory(redis: Redis, prefix: string, selfId?: string, extra: Partial<ConstructorParameters<typeof NodeDirectory>[0]> = {}): NodeDirectory {
  const dir = new NodeDirectory({ redis, prefix, selfId, intervalMs: 100, ...extra });
  cleanupAfter(() => dir.close());
  return dir;
}

describe('the node directory', () => {
  it('sees the two other nodes with their heartbeat fields, and not itself', async () => {
    const redis = testRedis();
    const prefix = randomPrefix();
    heartbeat(redis, prefix, report('node-a', 1001));
    heartbeat(redis, prefix, report('node-b', 1002, [{ model: 'linear', version: 2, inFlight: 0, queued: 1 }]));
    // Lists other 2 twice: still one target.
    heartbeat(redis, prefix, report('node-c', 1003, [{ model: 'other', version: 2, inFlight: 0, queued: 0 }, { model: 'other', version: 2, inFlight: 0, queued: 0 }]));
    const dir = directory(redis, prefix, 'node-a');
    dir.start();
    await eventually(() => dir.nodes().length === 2, 10_000, 'two nodes in the directory');

    expect(dir.nodes().map((n) => n.id).sort()).toEqual(['node-b', 'node-c']);
    const b = dir.nodes().find((n) => n.id === 'node-b')!;
    expect(b).toMatchObject({ url: 'http://127.0.0.1:1002', versions: [{ model: 'linear', version: 2, inFlight: 0, queued: 1 }] });
    expect(b.startedAt).toBeGreaterThan(0);
    expect(b.heartbeatAt).toBeGreaterThanOrEqual(b.startedAt);
    expect(dir.targetsFor('linear', 2)).toEqual([{ id: 'node-b', kind: 'node', baseUrl: 'http://127.0.0.1:1002', reportedLoad: 1, weight: 1 }]);
    // node-a has linear 1 READY, but it is this process: never a target of its own.
    expect(dir.targetsFor('linear', 1)).toEqual([]);
    expect(dir.versionsOf('linear')).toEqual([2]);
    expect(dir.targetsFor('other', 2).map((t) => t.id)).toEqual(['node-c']);
    expect(dir.versionsOf('other')).toEqual([2]);
    expect(dir.versionsOf('unknown')).toEqual([]);
    expect(dir.stale).toBe(false);
  });

  it('skips malformed entries, logs each once, and keeps the good ones', async () => {
    const redis = testRedis();
    const prefix = randomPrefix();
    heartbeat(redis, prefix, report('good', 2001));
    await eventually(async () => (await redis.exists(heartbeatKey(prefix, 'good'))) === 1, 10_000, 'the good heartbeat written');
    const good = JSON.parse((await redis.get(heartbeatKey(prefix, 'good')))!) as Record<string, unknown>;
    const bad: Record<string, string> = {
      'not-json': '{"id": "not-json", ',
      'other-id': JSON.stringify({ ...good, id: 'good' }),
      'bad-url': JSON.stringify({ ...good, id: 'bad-url', url: 'javascript:alert(1)' }),
      'negative': JSON.stringify({ ...good, id: 'negative', versions: [{ model: 'linear', version: 1, inFlight: -5, queued: 0 }] }),
      'bad-model': JSON.stringify({ ...good, id: 'bad-model', versions: [{ model: '../etc', version: 1, inFlight: 0, queued: 0 }] }),
      'huge': JSON.stringify({ ...good, id: 'huge', padding: 'x'.repeat(200_000) }),
      'proto': `{"__proto__": {"polluted": true}, "id": "proto"}`,
    };
    for (const [id, value] of Object.entries(bad)) await redis.set(heartbeatKey(prefix, id), value, 'PX', 60_000);
    await redis.hset(heartbeatKey(prefix, 'a-hash'), 'id', 'a-hash');
    await redis.pexpire(heartbeatKey(prefix, 'a-hash'), 60_000);

    const log = captureLog({ keep: (line) => line.event === 'node-heartbeat-invalid' });
    const dir = directory(redis, prefix, undefined, { logger: log.logger });
    await dir.refresh();
    await dir.refresh();

    expect(dir.stale).toBe(false);
    expect(dir.nodes().map((n) => n.id)).toEqual(['good']);
    // One line per bad value, not one per read (the hash is not a string: MGET gives null, nothing to say).
    expect(log.lines.map((line) => String(line.key).slice(prefix.length + 'nodes:'.length)).sort()).toEqual(Object.keys(bad).sort());
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('drops a node whose heartbeat stops changing for longer than its TTL, even if the key stays', async () => {
    const redis = testRedis();
    const prefix = randomPrefix();
    const record = { ...report('frozen', 3001).current(), ttlMs: 300 };
    // Written once without a TTL: a writer that died, on a Redis that will never expire it.
    await redis.set(heartbeatKey(prefix, 'frozen'), JSON.stringify(record));
    let now = Date.now();
    const dir = directory(redis, prefix, undefined, { now: () => now });
    await dir.refresh();
    expect(dir.nodes().map((n) => n.id)).toEqual(['frozen']);
    now += 301;
    await dir.refresh();
    expect(dir.nodes()).toEqual([]);
  });

  it('keeps the last known set while Redis is hung (stale), and reads again once it answers', async () => {
    const server = await startPrivateRedis();
    const writer = testRedis(server.url);
    const prefix = 'membership-test:';
    heartbeat(writer, prefix, report('peer', 4001));
    const reader = testRedis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 300 });
    const log = captureLog({ keep: (line) => typeof line.event === 'string' && String(line.event).startsWith('node-directory') });
    await eventually(() => reader.status === 'ready', 10_000, 'the reader connected');
    const dir = directory(reader, prefix, undefined, { timeoutMs: 500, logger: log.logger });
    dir.start();
    await eventually(() => dir.nodes().length === 1, 10_000, 'the peer seen');

    server.pause();
    try {
      await eventually(() => dir.stale, 10_000, 'the directory stale');
      // Past the peer's TTL (3 s) by the reader's clock: still kept, since nothing could be read.
      await sleep(3_500);
      expect(dir.stale).toBe(true);
      expect(dir.nodes().map((n) => n.id)).toEqual(['peer']);
      expect(dir.lastError).toBeDefined();
    } finally {
      server.resume();
    }
    await eventually(() => !dir.stale, 10_000, 'the directory fresh again');
    expect(dir.nodes().map((n) => n.id)).toEqual(['peer']);
    expect(log.lines.map((line) => line.event)).toEqual(['node-directory-stale', 'node-directory-fresh']);
  });

  it('deletes its own entry on leave, and not one a newer process with the same id wrote', async () => {
    const redis = testRedis();
    const prefix = randomPrefix();
    const first = heartbeat(redis, prefix, report('same-id', 5001));
    await eventually(async () => (await redis.exists(heartbeatKey(prefix, 'same-id'))) === 1);
    expect(await first.leave()).toBe(true);
    expect(await redis.exists(heartbeatKey(prefix, 'same-id'))).toBe(0);

    const old = new NodeHeartbeat({ redis, prefix, report: report('same-id', 5002), intervalMs: 60_000, ttlMs: 3000 });
    old.start();
    cleanupAfter(() => old.leave());
    await eventually(async () => (await redis.exists(heartbeatKey(prefix, 'same-id'))) === 1);
    const newer = heartbeat(redis, prefix, report('same-id', 5003));
    await eventually(async () => (await redis.get(heartbeatKey(prefix, 'same-id')))?.includes(':5003') === true);
    expect(await old.leave()).toBe(false);
    expect(await redis.get(heartbeatKey(prefix, 'same-id'))).toContain(':5003');
    expect(newer.writes).toBeGreaterThan(0);
  });
});

describe('the latency window', () => {
  it('gives p50 and p99 of the last 10 s within a bucket (~10 %), and forgets older slots', () => {
    let now = 0;
    const window = new LatencyWindow({ now: () => now });
    expect(window.quantiles()).toEqual({ p50Ms: 0, p99Ms: 0, count: 0 });
    for (let i = 1; i <= 100; i++) window.record(i);
    const { p50Ms, p99Ms, count } = window.quantiles();
    expect(count).toBe(100);
    expect(p50Ms).toBeGreaterThanOrEqual(50);
    expect(p50Ms).toBeLessThanOrEqual(55);
    expect(p99Ms).toBeGreaterThanOrEqual(99);
    expect(p99Ms).toBeLessThanOrEqual(109);
    now += 10_000;
    window.record(2);
    expect(window.quantiles().count).toBe(1);
  });
});

describe('membership settings', () => {
  it('advertises 127.0.0.1 for a wildcard HOST, the host itself otherwise', () => {
    expect(defaultAdvertiseUrl('0.0.0.0', 8080)).toBe('http://127.0.0.1:8080');
    expect(defaultAdvertiseUrl('::', 8080)).toBe('http://127.0.0.1:8080');
    expect(defaultAdvertiseUrl('10.1.2.3', 9000)).toBe('http://10.1.2.3:9000');
    expect(defaultAdvertiseUrl('fd00::7', 9000)).toBe('http://[fd00::7]:9000');
  });

  it('refuses a TTL not above the interval, a NODE_ID with glob characters, and an ADVERTISE_URL with a path', () => {
    expect(() => loadConfig({ NODE_HEARTBEAT_MS: '1000', NODE_HEARTBEAT_TTL_MS: '1000' })).toThrow(/NODE_HEARTBEAT_TTL_MS must exceed NODE_HEARTBEAT_MS/);
    expect(() => loadConfig({ NODE_ID: 'node*' })).toThrow(/NODE_ID/);
    expect(() => loadConfig({ ADVERTISE_URL: 'http://10.0.0.7:8080/api' })).toThrow(/ADVERTISE_URL/);
    expect(loadConfig({ ADVERTISE_URL: 'http://10.0.0.7:8080/' }).membership.advertiseUrl).toBe('http://10.0.0.7:8080');
  });
});
