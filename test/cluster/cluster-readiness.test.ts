/**
 * A gateway's view of the other nodes when Redis goes wrong, and its way out of the cluster:
 * with Redis hung (SIGSTOP) the last known set stays on GET /cluster (stale), /readyz stays 200
 * with a warning, and the metrics say so, until Redis answers again; a heartbeat that can not be
 * written is counted. At shutdown with a peer known, it leaves first and keeps answering during
 * NODE_LEAVE_GRACE_MS (not ready, but serving), then drains. The peer is a real second writer
 * (NodeHeartbeat) on the same Redis.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { LatencyWindow } from '../../src/cluster/latency-window.js';
import { NodeHeartbeat } from '../../src/cluster/node-heartbeat.js';
import { heartbeatKey } from '../../src/cluster/node-heartbeat-record.js';
import { NodeReport } from '../../src/cluster/node-report.js';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, LINEAR_INPUT, startTestGateway } from '../support/gateway.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';
import { randomPrefix, startPrivateRedis, testRedis } from '../support/redis.js';

function peer(redis: Redis, prefix: string, id = 'peer-1'): NodeHeartbeat {
  const report = new NodeReport({
    id,
    url: () => 'http://127.0.0.1:1',
    versions: () => [{ model: 'linear', version: 7, inFlight: 1, queued: 0 }],
    latencies: new LatencyWindow(),
    ttlMs: 3000,
  });
  const beat = new NodeHeartbeat({ redis, prefix, report, intervalMs: 200, ttlMs: 3000 });
  beat.start();
  cleanupAfter(() => beat.leave());
  return beat;
}

interface ClusterAnswer {
  self: { id: string };
  stale: boolean;
  nodes: Array<{ id: string; versions: unknown[] }>;
}

async function metric(url: string, name: string): Promise<number | undefined> {
  return valueOf(parseExposition(await (await fetch(url + '/metrics')).text()), name);
}

describe('cluster membership and readiness', () => {
  it('keeps the last known nodes while Redis is hung, says so on /readyz and in metrics, and recovers', async () => {
    const server = await startPrivateRedis();
    const prefix = 'readiness-test:';
    const writer = testRedis(server.url);
    peer(writer, prefix);
    const { url } = await startTestGateway({ redis: { url: server.url, prefix }, env: { NODE_ID: 'self-node' } });
    const cluster = async () => (await (await fetch(url + '/cluster')).json()) as ClusterAnswer;
    await eventually(async () => (await cluster()).nodes.length === 1, 10_000, 'the peer on GET /cluster');
    expect(await metric(url, 'switchyard_cluster_nodes')).toBe(1);
    expect(await metric(url, 'switchyard_cluster_directory_stale')).toBe(0);
    expect(await metric(url, 'switchyard_cluster_heartbeat_failures_total')).toBe(0);

    server.pause();
    try {
      await eventually(async () => (await cluster()).stale, 15_000, 'GET /cluster stale');
      const answer = await cluster();
      expect(answer.self.id).toBe('self-node');
      expect(answer.nodes.map((n) => n.id)).toEqual(['peer-1']);
      const ready = await fetch(url + '/readyz');
      const body = (await ready.json()) as { ready: boolean; warnings?: string[] };
      expect(ready.status).toBe(200);
      expect(body.warnings?.some((w) => w.startsWith('cluster: the node heartbeats could not be read from Redis') && w.includes('the last known 1 node are kept'))).toBe(true);
      expect(await metric(url, 'switchyard_cluster_directory_stale')).toBe(1);
      expect(await metric(url, 'switchyard_cluster_nodes')).toBe(1);
      await eventually(async () => ((await metric(url, 'switchyard_cluster_heartbeat_failures_total')) ?? 0) > 0, 15_000, 'a failed heartbeat counted');
      // Serving goes on (a pinned version: the routing table's own Redis troubles are another matter).
      const predicted = await fetch(url + '/models/linear/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(LINEAR_INPUT) });
      expect(predicted.status, await predicted.clone().text()).toBe(200);
    } finally {
      server.resume();
    }
    await eventually(async () => !(await cluster()).stale, 15_000, 'GET /cluster fresh again');
    // Every reader of that Redis (the node directory, the static backends) clears at its next read.
    const warnings = async () => ((await (await fetch(url + '/readyz')).json()) as { warnings?: string[] }).warnings ?? [];
    await eventually(async () => (await warnings()).length === 0, 10_000, 'no /readyz warning once Redis answers');
    expect(await metric(url, 'switchyard_cluster_directory_stale')).toBe(0);
  });

  it('with a peer known, leaves the cluster first and still answers during NODE_LEAVE_GRACE_MS, then drains', async () => {
    const prefix = randomPrefix();
    const redis = testRedis();
    peer(redis, prefix);
    const test = await startTestGateway({ redis: { prefix }, env: { NODE_ID: 'leaving-node', NODE_LEAVE_GRACE_MS: '3000' } });
    const key = heartbeatKey(prefix, 'leaving-node');
    await eventually(async () => (await redis.exists(key)) === 1 && test.gateway.membership!.directory.nodes().length === 1, 10_000, 'heartbeat written and the peer seen');

    const shutdown = test.gateway.shutdown();
    await eventually(async () => (await redis.exists(key)) === 0, 5_000, 'the heartbeat deleted');
    // Left, not ready, but still serving what peers send before they notice.
    const ready = await fetch(test.url + '/readyz');
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reasons: string[] }).reasons.join()).toContain('left the cluster');
    // Version 1 (this node's): the peer's version 7 is the latest, and its URL answers nothing.
    const predicted = await test.post('/models/linear/1/predict', LINEAR_INPUT);
    expect(predicted.status).toBe(200);
    expect((await shutdown).drained).toBe(true);
  });

  it('without REDIS_URL, GET /cluster lists only this node', async () => {
    const { url } = await startTestGateway({ env: { NODE_ID: 'alone' } });
    const answer = (await (await fetch(url + '/cluster')).json()) as ClusterAnswer & { membership: string };
    expect(answer).toMatchObject({ self: { id: 'alone', versions: [{ model: 'linear', version: 1, inFlight: 0, queued: 0 }] }, membership: 'off', stale: false, nodes: [] });
  });
});
