/**
 * Static V2 backends (src/cluster/static-backends.ts) over real parts: a real Switchyard process
 * used through its V2 API as if it were Triton, small real HTTP servers this file controls (to
 * count and hold probes), real files in temp dirs, the shared Redis under a random prefix and a
 * private redis-server for the pause test.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { StaticBackends, type StaticBackendsOptions } from '../../src/cluster/static-backends.js';
import { listenOnLoopback } from '../support/loopback-server.js';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, sleep } from '../support/eventually.js';
import { startGatewayProcess } from '../support/gateway-process.js';
import { startTestGateway } from '../support/gateway.js';
import { captureLog, type LogLine } from '../support/log-capture.js';
import { freePort } from '../support/redis-server.js';
import { randomPrefix, startPrivateRedis, testRedis, testRedisUrl } from '../support/redis.js';
import { tempDir, writeTextAtomically } from '../support/temp-dir.js';

let file: string;

beforeEach(async () => {
  expect.hasAssertions();
  file = (await tempDir('backends')).join('backends.json');
});

/** A StaticBackends on the test's file, fast probes, its log captured; closed when the test ends. */
function open(options: StaticBackendsOptions = {}): { backends: StaticBackends; log: LogLine[] } {
  const { logger, lines } = captureLog();
  const backends = new StaticBackends({ file, probeIntervalMs: 100, probeTimeoutMs: 1000, logger, ...options });
  cleanupAfter(() => backends.close());
  return { backends, log: lines };
}

const save = (content: unknown): Promise<void> => writeTextAtomically(file, typeof content === 'string' ? content : JSON.stringify(content));

interface ProbeServer {
  readonly url: string;
  /** Readiness probes answered so far, in order: true = 200, false = 503. */
  readonly answers: boolean[];
  /** Readiness answers 200 while true, 503 while false. */
  ready: boolean;
  /** While set, the next readiness probe is held (not answered) until release() is called. */
  holdNext: boolean;
  /** Resolves when a readiness probe is being held. */
  held(): Promise<void>;
  release(): void;
}

/** A small V2 server: /v2/health/ready as told, every version ready. */
async function probeServer(): Promise<ProbeServer> {
  let heldResponse: { response: ServerResponse; ok: boolean } | undefined;
  let onHeld: (() => void) | undefined;
  const state: ProbeServer = {
    url: '',
    answers: [],
    ready: true,
    holdNext: false,
    held: () => (heldResponse ? Promise.resolve() : new Promise<void>((resolve) => (onHeld = resolve))),
    release: () => {
      const held = heldResponse;
      heldResponse = undefined;
      if (!held) return;
      state.answers.push(held.ok);
      held.response.writeHead(held.ok ? 200 : 503).end();
    },
  };
  const server = createHttpServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/v2/health/ready') {
      if (state.holdNext) {
        state.holdNext = false;
        heldResponse = { response, ok: state.ready };
        onHeld?.();
        return;
      }
      state.answers.push(state.ready);
      response.writeHead(state.ready ? 200 : 503).end();
      return;
    }
    response.writeHead(/^\/v2\/models\/[^/]+\/versions\/\d+\/ready$/.test(request.url ?? '') ? 200 : 404).end();
  });
  return Object.assign(state, { url: await listenOnLoopback(server) });
}

/** A server that accepts connections and never answers (a hung backend). */
async function silentServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanupAfter(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

const urlsOf = (backends: StaticBackends) => backends.describe().map((row) => `${row.name} ${row.url}`).sort();
const refusals = (log: LogLine[], backend?: string) =>
  log.filter((line) => (backend === undefined ? line.event === 'backends-refused' : line.event === 'backend-refused' && line.backend === backend));

describe('a Switchyard gateway used as a V2 backend (as if it were Triton)', () => {
  it('is a target once probed healthy, and only for versions it serves; unloading the model takes that version out', async () => {
    const node = await startGatewayProcess({ ADMIN_TOKEN: 'secret' });
    await save({ gw: { urls: [`${node.url}/`], models: { linear: [1] }, weight: 3 } });
    const { backends } = open();
    await backends.start();

    await eventually(() => backends.targetsFor('linear', 1).length === 1, 15_000, () => `linear v1 healthy: ${JSON.stringify(backends.describe())}`);
    expect(backends.targetsFor('linear', 1)).toEqual([{ id: `backend:gw:${node.url}`, kind: 'backend', baseUrl: node.url, reportedLoad: 0, weight: 3 }]);
    expect(backends.versionsOf('linear')).toEqual([1]);
    expect(backends.targetsFor('linear', 2)).toEqual([]);
    expect(backends.targetsFor('other', 1)).toEqual([]);
    expect(backends.describe()).toMatchObject([{ name: 'gw', url: node.url, healthy: true, models: { linear: [1] } }]);

    // The V2 repository extension, as one would unload a model on Triton.
    const unloaded = await fetch(`${node.url}/v2/repository/models/linear/unload`, { method: 'POST', headers: { authorization: 'Bearer secret' } });
    expect(unloaded.status).toBe(200);
    await eventually(() => backends.targetsFor('linear', 1).length === 0, 15_000, 'linear v1 out once unloaded');
    expect(backends.versionsOf('linear')).toEqual([]);
    const [row] = backends.describe();
    // The server itself is still ready; only that version is not.
    expect(row).toMatchObject({ healthy: true, versions: [{ model: 'linear', version: 1, healthy: false }] });
    expect(row!.versions[0]!.lastError).toMatch(/HTTP (404|503)/);
  });
});

describe('probes', () => {
  it('an unreachable URL and a hung one are unhealthy, never a crash; the others stay targets', async () => {
    const good = await probeServer();
    const refused = `http://127.0.0.1:${await freePort()}`;
    const hung = await silentServer();
    await save({ pool: { urls: [refused, hung, good.url], models: { m: [1] } } });
    const { backends } = open({ probeTimeoutMs: 300 });
    await backends.start();

    await eventually(
      () => backends.describe().every((row) => row.lastProbeAt !== undefined) && backends.targetsFor('m', 1).length === 1,
      10_000,
      () => `every URL probed: ${JSON.stringify(backends.describe())}`,
    );
    expect(backends.targetsFor('m', 1).map((target) => target.baseUrl)).toEqual([good.url]);
    const byUrl = new Map(backends.describe().map((row) => [row.url, row]));
    expect(byUrl.get(refused)).toMatchObject({ healthy: false });
    expect(byUrl.get(refused)!.lastError).toMatch(/ECONNREFUSED|refused/i);
    expect(byUrl.get(hung)).toMatchObject({ healthy: false });
    expect(byUrl.get(hung)!.lastError).toContain('no answer within 300 ms');
    expect(backends.metricsView()).toMatchObject({ healthy: 1, unhealthy: 2 });
    expect(backends.metricsView().urls.find((row) => row.url === refused)!.probeFailures).toBeGreaterThan(0);
    // Probes keep going (and keep failing) without taking anything down.
    const failures = backends.metricsView().urls.find((row) => row.url === hung)!.probeFailures;
    await eventually(() => backends.metricsView().urls.find((row) => row.url === hung)!.probeFailures > failures, 10_000, 'the hung URL probed again');
    await backends.close();
    await backends.close();
  });

  it('a failed probe takes a URL out at once; it is re-admitted only after 2 consecutive passes', async () => {
    const server = await probeServer();
    await save({ b: { urls: [server.url], models: { m: [1] } } });
    const { backends, log } = open();
    await backends.start();
    // The first pass of a new URL admits it.
    await eventually(() => backends.targetsFor('m', 1).length === 1, 10_000, 'admitted');
    expect(server.answers[0]).toBe(true);

    server.ready = false;
    await eventually(() => backends.targetsFor('m', 1).length === 0, 10_000, 'taken out after the failed probe');
    expect(backends.describe()[0]).toMatchObject({ healthy: false, lastError: 'readiness: HTTP 503' });
    const failedAt = server.answers.length;

    // Pass 1 is answered; pass 2 is held, so the state between them can be looked at.
    server.ready = true;
    await eventually(() => server.answers.length > failedAt && server.answers.at(-1) === true, 10_000, 'one passing probe');
    server.holdNext = true;
    await server.held();
    expect(server.answers.slice(failedAt).filter((ok) => ok).length).toBe(1);
    expect(backends.targetsFor('m', 1)).toEqual([]);
    expect(backends.describe()[0]!.healthy).toBe(false);

    server.release();
    await eventually(() => backends.targetsFor('m', 1).length === 1, 10_000, 're-admitted after the second pass');
    expect(log.filter((line) => line.event === 'backend-unhealthy').length).toBeGreaterThan(0);
    expect(log.filter((line) => line.event === 'backend-healthy').length).toBeGreaterThanOrEqual(2);
  });

  it('with BACKEND_HEALTHY_AFTER_PASSES=1 one pass re-admits (the setting is the count)', async () => {
    const server = await probeServer();
    await save({ b: { urls: [server.url], models: { m: [1] } } });
    const { backends } = open({ healthyAfterPasses: 1 });
    await backends.start();
    await eventually(() => backends.targetsFor('m', 1).length === 1, 10_000, 'admitted');
    server.ready = false;
    await eventually(() => backends.targetsFor('m', 1).length === 0, 10_000, 'out');
    const failedAt = server.answers.length;
    server.ready = true;
    await eventually(() => server.answers.length > failedAt && server.answers.at(-1) === true, 10_000, 'one passing probe');
    // The next probe is held: the one pass before it was enough.
    server.holdNext = true;
    await server.held();
    expect(server.answers.slice(failedAt).filter((ok) => ok)).toHaveLength(1);
    expect(backends.targetsFor('m', 1)).toHaveLength(1);
    server.release();
  });
});

describe('the backends file', () => {
  it('an absent file is no backends; a file that appears is read', async () => {
    const { backends } = open();
    await backends.start();
    expect(backends.describe()).toEqual([]);
    await save({ a: { urls: ['http://127.0.0.1:1'], models: { m: [1] } } });
    await eventually(() => backends.describe().length === 1, 10_000, 'the new file read');
  });

  it('a bad entry is refused with its name and reason, its last good version and every other entry stay', async () => {
    await save({
      a: { urls: ['http://127.0.0.1:1'], models: { m: [1] } },
      b: { urls: ['http://127.0.0.1:2'], models: { m: [1] } },
    });
    const { backends, log } = open();
    await backends.start();
    expect(urlsOf(backends)).toEqual(['a http://127.0.0.1:1', 'b http://127.0.0.1:2']);

    await save({
      a: { urls: ['ftp://127.0.0.1:1'], models: { m: [1] } },
      b: { urls: ['http://127.0.0.1:3'], models: { m: [1] } },
      c: { urls: ['http://127.0.0.1:4'], models: { m: [2] }, wieght: 2 },
      'bad name': { urls: ['http://127.0.0.1:5'], models: { m: [1] } },
    });
    await eventually(() => urlsOf(backends).includes('b http://127.0.0.1:3'), 10_000, 'the good edit applied');
    expect(urlsOf(backends)).toEqual(['a http://127.0.0.1:1', 'b http://127.0.0.1:3']);
    expect(refusals(log, 'a')[0]!.reason).toContain('not an http(s) URL');
    expect(refusals(log, 'c')[0]!.reason).toMatch(/wieght/);
    expect(refusals(log, 'bad name')[0]!.reason).toContain('name is not valid');
    expect(backends.refused().map((row) => `${row.source} ${row.name}`).sort()).toEqual(['file a', 'file bad name', 'file c']);
    // Once per reason: the settle re-read logs nothing new.
    await sleep(400);
    expect(refusals(log, 'a')).toHaveLength(1);

    // Not JSON at all: everything stays.
    await save('{"a": {"urls": [');
    await eventually(() => refusals(log).length > 0, 10_000, 'the broken file reported');
    expect(refusals(log)[0]!.reason).toContain('not valid JSON');
    expect(urlsOf(backends)).toEqual(['a http://127.0.0.1:1', 'b http://127.0.0.1:3']);

    // Removing an entry is no refusal.
    await save({ b: { urls: ['http://127.0.0.1:3'], models: { m: [1] } } });
    await eventually(() => urlsOf(backends).length === 1, 10_000, 'a removed');
  });

  it('never crashes on hostile content: huge, deeply nested, wrong types, prototype keys', async () => {
    await save({ keep: { urls: ['http://127.0.0.1:1'], models: { m: [1] } } });
    const { backends, log } = open();
    await backends.start();
    const keep = '"keep": {"urls": ["http://127.0.0.1:1"], "models": {"m": [1]}}';
    const hostile: Array<[string, string]> = [
      ['huge', `{${keep}, "pad": "${'x'.repeat(2 * 1024 * 1024)}"}`],
      ['nested', `{${keep}, "deep": {"urls": ["http://127.0.0.1:9"], "models": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`],
      ['nested object', `{${keep}, "deep": {"urls": ["http://127.0.0.1:9"], "models": {"m": ${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}}}`],
      ['types', `{${keep}, "t1": {"urls": "http://127.0.0.1:9", "models": {"m": [1]}}, "t2": {"urls": ["http://127.0.0.1:9"], "models": {"m": ["1"]}}, "t3": 7, "t4": null, "t5": {"urls": [], "models": {}}}`],
      ['proto', `{${keep}, "__proto__": {"urls": ["http://127.0.0.1:9"], "models": {"m": [1]}}, "constructor": {"urls": ["http://127.0.0.1:8"], "models": {"__proto__": [1], "toString": [1]}}}`],
      ['many', `{${keep}, "many": {"urls": ["http://127.0.0.1:9"], "models": {${Array.from({ length: 10_000 }, (_, i) => `"m${i}": [1]`).join(', ')}}}}`],
      ['array', '[1, 2, 3]'],
    ];
    for (const [label, content] of hostile) {
      const before = log.length;
      await save(content);
      await eventually(() => log.slice(before).some((line) => line.event === 'backend-refused' || line.event === 'backends-refused'), 10_000, `${label} refused`);
      expect(urlsOf(backends), label).toEqual(['keep http://127.0.0.1:1']);
    }
    expect(refusals(log).some((line) => String(line.reason).includes('bytes'))).toBe(true);
    expect(Object.prototype).not.toHaveProperty('urls');
    // A model or backend named like an Object member, when otherwise valid, is only a name.
    await save({ keep: { urls: ['http://127.0.0.1:1'], models: { m: [1] } }, constructor: { urls: ['http://127.0.0.1:8'], models: { toString: [2, 1, 2] } } });
    await eventually(() => urlsOf(backends).includes('constructor http://127.0.0.1:8'), 10_000, 'constructor accepted');
    expect(backends.describe().find((row) => row.name === 'constructor')!.models.toString).toEqual([1, 2]);
  });

  it('keeps at most 64 backends (in name order) and refuses the rest by name', async () => {
    const entries = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`b${String(i).padStart(2, '0')}`, { urls: [`http://127.0.0.1:${1000 + i}`], models: { m: [1] } }]));
    await save(entries);
    const { backends, log } = open();
    await backends.start();
    expect(new Set(backends.describe().map((row) => row.name)).size).toBe(64);
    expect(backends.describe().some((row) => row.name === 'b64')).toBe(false);
    expect(log.filter((line) => line.event === 'backend-refused').map((line) => line.backend)).toEqual(['b64', 'b65', 'b66', 'b67', 'b68', 'b69']);
  });
});

describe('Redis keys <prefix>backends:<name>', () => {
  it('reads JSON string entries; a bad one is refused by name, its last good version and the others kept; DEL removes', async () => {
    const prefix = randomPrefix();
    const redis = testRedis();
    await redis.set(`${prefix}backends:good`, JSON.stringify({ urls: ['http://127.0.0.1:1'], models: { m: [1] } }));
    await redis.set(`${prefix}backends:broken`, '{"urls": [');
    await redis.hset(`${prefix}backends:hashed`, 'urls', 'http://127.0.0.1:2');
    const { backends, log } = open({ redis: { url: testRedisUrl(), prefix }, refreshMs: 50 });
    await backends.start();
    expect(urlsOf(backends)).toEqual(['good http://127.0.0.1:1']);
    expect(refusals(log, 'broken')[0]!.reason).toContain('not valid JSON');
    expect(refusals(log, 'hashed')[0]!.reason).toContain('is not a string');

    // An edit that breaks the entry keeps its last good version; a new good entry arrives.
    await redis.set(`${prefix}backends:good`, JSON.stringify({ urls: ['http://127.0.0.1:1'], models: { m: [0] } }));
    await redis.set(`${prefix}backends:other`, JSON.stringify({ urls: ['http://127.0.0.1:3'], models: { m: [1] } }));
    await eventually(() => urlsOf(backends).includes('other http://127.0.0.1:3'), 10_000, 'the new entry read');
    await eventually(() => refusals(log, 'good').length === 1, 10_000, 'the bad edit refused');
    expect(urlsOf(backends)).toEqual(['good http://127.0.0.1:1', 'other http://127.0.0.1:3']);
    // A huge value is refused without reading it whole.
    await redis.set(`${prefix}backends:other`, 'x'.repeat(3 * 1024 * 1024));
    await eventually(() => refusals(log, 'other').length === 1, 10_000, 'the huge value refused');
    expect(refusals(log, 'other')[0]!.reason).toContain('more than');
    expect(urlsOf(backends)).toEqual(['good http://127.0.0.1:1', 'other http://127.0.0.1:3']);

    await redis.del(`${prefix}backends:other`);
    await eventually(() => urlsOf(backends).length === 1, 10_000, 'the deleted entry gone');
    expect(backends.stale).toBe(false);
  });

  it('a Redis entry wins over a file entry of the same name', async () => {
    const prefix = randomPrefix();
    await save({ same: { urls: ['http://127.0.0.1:1'], models: { m: [1] } }, fileonly: { urls: ['http://127.0.0.1:2'], models: { m: [1] } } });
    await testRedis().set(`${prefix}backends:same`, JSON.stringify({ urls: ['http://127.0.0.1:3'], models: { m: [1] } }));
    const { backends } = open({ redis: { url: testRedisUrl(), prefix } });
    await backends.start();
    expect(urlsOf(backends)).toEqual(['fileonly http://127.0.0.1:2', 'same http://127.0.0.1:3']);
  });

  it('a paused (hung) Redis keeps the last set, healthy targets included; it is read again once Redis answers', async () => {
    const server = await startPrivateRedis();
    const prefix = 'paused:';
    const redis = testRedis(server.url);
    const probe = await probeServer();
    await redis.set(`${prefix}backends:b`, JSON.stringify({ urls: [probe.url], models: { m: [1] } }));
    const { backends, log } = open({ redis: { url: server.url, prefix }, refreshMs: 50, redisCommandTimeoutMs: 200 });
    await backends.start();
    await eventually(() => backends.targetsFor('m', 1).length === 1, 10_000, 'healthy');

    server.pause();
    try {
      await eventually(() => backends.stale, 10_000, 'the refresh failing');
      expect(log.some((line) => line.event === 'backends-redis-stale')).toBe(true);
      await sleep(500);
      expect(backends.targetsFor('m', 1)).toHaveLength(1);
      expect(urlsOf(backends)).toEqual([`b ${probe.url}`]);
    } finally {
      server.resume();
    }
    await eventually(() => !backends.stale, 10_000, 'read again');
    await redis.del(`${prefix}backends:b`);
    await eventually(() => backends.describe().length === 0, 10_000, 'the deleted entry gone after the pause');
  });
});

describe('in the gateway', () => {
  it('BACKENDS_FILE present: switchyard.backends probes it and /metrics shows each URL', async () => {
    const probe = await probeServer();
    await save({ pool: { urls: [probe.url], models: { m: [1] } } });
    const t = await startTestGateway({ env: { BACKENDS_FILE: file, BACKEND_PROBE_INTERVAL_MS: '100' } });
    expect(t.gateway.backends).toBeDefined();
    await eventually(() => t.gateway.backends!.targetsFor('m', 1).length === 1, 10_000, 'probed');
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toContain(`switchyard_backend_url_healthy{backend="pool",url="${probe.url}"} 1`);
    expect(text).toContain('switchyard_backend_urls{state="healthy"} 1');
    await t.close();
    // Closed with the gateway: no more probes.
    const answered = probe.answers.length;
    await sleep(400);
    expect(probe.answers.length).toBe(answered);
  });

  it('no backends file and no REDIS_URL: no backends', async () => {
    const t = await startTestGateway({ env: { BACKENDS_FILE: file } });
    expect(t.gateway.backends).toBeUndefined();
    await t.close();
  });
});

it('a file written in place (not renamed) is picked up', async () => {
  await save({});
  const { backends } = open();
  await backends.start();
  await writeFile(file, JSON.stringify({ a: { urls: ['http://127.0.0.1:1'], models: { m: [1] } } }));
  await eventually(() => backends.describe().length === 1, 10_000, 'the in-place write read');
  expect(urlsOf(backends)).toEqual(['a http://127.0.0.1:1']);
});
