/**
 * Membership between real gateway processes on one Redis prefix: each writes its heartbeat with
 * the documented fields; SIGKILL leaves it to expire by its TTL; a clean SIGTERM deletes it before
 * the drain ends (while a slow request is still running); GET /cluster and `switchyard nodes ls`
 * list the other node and this one as self.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heartbeatKey } from '../../src/cluster/node-heartbeat-record.js';
import { runCli } from '../support/cli.js';
import { startGatewayProcess } from '../support/gateway-process.js';
import { eventually } from '../support/eventually.js';
import { mlpModel, MLP_SIZES } from '../support/models.js';
import { randomPrefix, scanKeys, testRedis, testRedisUrl } from '../support/redis.js';
import { freePort } from '../support/redis-server.js';

interface Heartbeat {
  id: string;
  url: string;
  startedAt: number;
  heartbeatAt: number;
  ttlMs: number;
  loops: number;
  instance: string;
  eventLoopUtilization: number;
  p50Ms: number;
  p99Ms: number;
  versions: Array<{ model: string; version: number; inFlight: number; queued: number }>;
}

describe('node heartbeats between processes', () => {
  it('writes the heartbeat with its fields and a TTL; after SIGKILL it expires within the TTL', async () => {
    const prefix = randomPrefix();
    const redis = testRedis();
    const node = await startGatewayProcess({ NODE_ID: 'node-kill' }, { redis: { prefix } });
    const key = heartbeatKey(prefix, 'node-kill');
    await eventually(async () => ((await redis.get(key)) ?? '').includes('"linear"'), 10_000, 'a heartbeat with linear READY');
    const beat = JSON.parse((await redis.get(key))!) as Heartbeat;
    expect(beat).toMatchObject({ id: 'node-kill', url: node.url, ttlMs: 3000, loops: 1, versions: [{ model: 'linear', version: 1, inFlight: 0, queued: 0 }] });
    expect(beat.startedAt).toBeGreaterThan(0);
    expect(beat.heartbeatAt).toBeGreaterThanOrEqual(beat.startedAt);
    expect(beat.eventLoopUtilization).toBeGreaterThanOrEqual(0);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3000);
    // It is rewritten about every second.
    await eventually(async () => ((JSON.parse((await redis.get(key)) ?? '{}') as Heartbeat).heartbeatAt ?? 0) > beat.heartbeatAt, 10_000, 'a newer heartbeat');

    node.kill('SIGKILL');
    await node.exited;
    // Nothing deletes it: Redis expires it once the TTL (at most 3 s after the last write) passes.
    expect(await redis.exists(key)).toBe(1);
    await eventually(async () => (await redis.exists(key)) === 0, 10_000, 'the heartbeat expired');
  });

  it('deletes its heartbeat on SIGTERM before the drain ends, while a slow request is still running', async () => {
    const prefix = randomPrefix();
    const redis = testRedis();
    const node = await startGatewayProcess(
      { NODE_ID: 'node-term', RUNTIME_WORKERS: '1', NODE_LEAVE_GRACE_MS: '0' },
      { redis: { prefix }, models: { mlp: { 1: mlpModel(MLP_SIZES.heavy) } } },
    );
    const key = heartbeatKey(prefix, 'node-term');
    await eventually(async () => ((await redis.get(key)) ?? '').includes('"mlp"'), 10_000, 'a heartbeat with mlp READY');
    // A long queue delay keeps the requests queued across several heartbeats, however fast the machine.
    await writeFile(join(node.repo, 'mlp', 'config.json'), JSON.stringify({ max_queue_delay_ms: 4000, max_batch_size: 8192 }));
    await eventually(async () => {
      const view = (await (await fetch(node.url + '/models/mlp')).json()) as { config?: { max_queue_delay_ms?: number } };
      return view.config?.max_queue_delay_ms === 4000;
    }, 10_000, 'the queue delay applied');
    const row = Array.from({ length: 256 }, (_, i) => (i % 5) / 5);
    const body = JSON.stringify({ inputs: { input: Array.from({ length: 512 }, () => row) } });
    let answered = 0;
    const requests = Array.from({ length: 8 }, () =>
      fetch(node.url + '/models/mlp/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => {
        answered += 1;
        return r.status;
      }),
    );
    // The heartbeat itself reports the work (requests running or queued).
    let seen = '';
    await eventually(async () => {
      seen = (await redis.get(key)) ?? '{"versions": []}';
      const beat = JSON.parse(seen) as Heartbeat;
      const work = beat.versions.reduce((sum, v) => sum + v.inFlight + v.queued, 0);
      return work > 0;
    }, 30_000, () => `the heartbeat reporting the requests (answered ${answered}; last heartbeat ${seen})`);

    node.kill('SIGTERM');
    await eventually(async () => (await redis.exists(key)) === 0, 10_000, 'the heartbeat deleted');
    const unansweredWhenGone = 8 - answered;
    const statuses = await Promise.all(requests);
    expect(await node.exited).toBe(0);

    // Gone while requests were still running: it left before the drain ended.
    expect(unansweredWhenGone).toBeGreaterThan(0);
    expect(statuses).toEqual(Array.from({ length: 8 }, () => 200));
    // Deleted by the node itself (not expired), before the drain ended and its sessions were released.
    const lines = node.logLines();
    const left = lines.findIndex((line) => line.event === 'node-left');
    const released = lines.findIndex((line) => line.event === 'unloaded');
    expect(lines[left]).toMatchObject({ deleted: true });
    expect(left).toBeGreaterThanOrEqual(0);
    expect(left).toBeLessThan(released);
  });

  it('lists the other node and itself on GET /cluster and in `switchyard nodes ls`', async () => {
    const prefix = randomPrefix();
    const a = await startGatewayProcess({ NODE_ID: 'node-a', NODE_LEAVE_GRACE_MS: '0' }, { redis: { prefix } });
    const b = await startGatewayProcess({ NODE_ID: 'node-b', NODE_LEAVE_GRACE_MS: '0' }, { redis: { prefix } });
    const cluster = async () => (await (await fetch(a.url + '/cluster')).json()) as { self: Heartbeat; membership: string; stale: boolean; nodes: Array<Heartbeat & { ageMs: number }> };
    await eventually(async () => (await cluster()).nodes.some((n) => n.id === 'node-b' && n.versions.length === 1), 15_000, 'node-b on node-a\'s GET /cluster');

    const answer = await cluster();
    expect(answer.self).toMatchObject({ id: 'node-a', url: a.url, versions: [{ model: 'linear', version: 1, inFlight: 0, queued: 0 }] });
    expect(answer.membership).toBe('redis');
    expect(answer.stale).toBe(false);
    expect(answer.nodes.map((n) => n.id)).toEqual(['node-b']);
    expect(answer.nodes[0]).toMatchObject({ url: b.url, versions: [{ model: 'linear', version: 1 }] });
    expect(answer.nodes[0]!.ageMs).toBeGreaterThanOrEqual(0);

    const viaApi = await runCli(['nodes', 'ls', '--url', a.url]);
    expect(viaApi.stderr).toBe('');
    expect(viaApi.code).toBe(0);
    const rows = viaApi.stdout.trim().split('\n').map((line) => line.split('\t'));
    expect(rows[0]).toEqual(['ID', 'URL', 'AGE_MS', 'VERSIONS', 'IN_FLIGHT', 'QUEUED', 'ELU', 'P50_MS', 'P99_MS', 'HEALTH']);
    expect(rows.slice(1).map((r) => r.slice(0, 2))).toEqual([['node-a (self)', a.url], ['node-b', b.url]]);
    expect(rows[2]![3]).toBe('linear:1');

    const viaRedis = await runCli(['nodes', 'ls', '--redis', testRedisUrl(), '--prefix', prefix]);
    expect(viaRedis.code).toBe(0);
    const ids = viaRedis.stdout.trim().split('\n').slice(1).map((line) => line.split('\t')[0]).sort();
    expect(ids).toEqual(['node-a', 'node-b']);

    // B leaves cleanly: A stops listing it at its next read (no TTL wait).
    b.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    await eventually(async () => (await cluster()).nodes.length === 0, 5_000, 'node-b gone from node-a\'s GET /cluster');
  });

  it('with HTTP_LOOPS=2 writes one heartbeat for the server (the first loop), under one id a replaced loop keeps', async () => {
    const prefix = randomPrefix();
    const redis = testRedis();
    const server = await startGatewayProcess({ HTTP_LOOPS: '2', RUNTIME_WORKERS: '1' }, { redis: { prefix } });
    await eventually(() => server.logLines().filter((line) => line.msg === 'repository scanned').length === 2, 30_000, 'both loops scanned');
    const keys = async () => scanKeys(redis, `${prefix}nodes:*`);
    await eventually(async () => (await keys()).length === 1, 10_000, 'a heartbeat');
    const key = (await keys())[0]!;
    const beat = JSON.parse((await redis.get(key))!) as Heartbeat;
    // The primary chose the id (its pid), for every loop.
    expect(beat.id).toMatch(new RegExp(`-${server.pid}-[0-9a-f]{4}$`));
    expect(beat).toMatchObject({ url: server.url, loops: 2, versions: [{ model: 'linear', version: 1 }] });

    const first = server.logLines().find((line) => line.event === 'loop-listening' && line.loop === 0)!;
    process.kill(first.pid as number, 'SIGKILL');
    await eventually(() => server.logLines().some((line) => line.event === 'loop-replaced' && line.loop === 0), 30_000, 'loop 0 replaced');
    await eventually(async () => ((JSON.parse((await redis.get(key)) ?? '{}') as Heartbeat).instance ?? beat.instance) !== beat.instance, 15_000, 'the replacement writing the same entry');
    expect(await keys()).toEqual([key]);
  });

  it('asks for an API key on GET /cluster when API_KEYS is set', async () => {
    const node = await startGatewayProcess({ API_KEYS: 'k1' }, { redis: true });
    expect((await fetch(node.url + '/cluster')).status).toBe(401);
    expect((await fetch(node.url + '/cluster', { headers: { authorization: 'Bearer k1' } })).status).toBe(200);
    const cli = await runCli(['nodes', 'ls', '--url', node.url], { SWITCHYARD_API_KEY: 'k1' });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('(self)');
  });

  it('`switchyard nodes ls` says what is wrong: no connection (exit 2), an unreachable Redis or gateway (exit 1)', async () => {
    const port = await freePort();
    const none = await runCli(['nodes', 'ls']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no connection given');
    const redis = await runCli(['nodes', 'ls', '--redis', `redis://127.0.0.1:${port}`]);
    expect(redis.code).toBe(1);
    expect(redis.stderr).toContain(`cannot reach Redis at redis://127.0.0.1:${port}`);
    const api = await runCli(['nodes', 'ls', '--url', `http://127.0.0.1:${port}`]);
    expect(api.code).toBe(1);
    expect(api.stderr).toContain(`cannot reach http://127.0.0.1:${port}`);
    const extra = await runCli(['nodes', 'ls', 'more']);
    expect(extra.code).toBe(2);
  });
});
