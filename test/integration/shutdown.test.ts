/**
 * SIGTERM on the real process with requests in flight: every accepted request completes, new ones
 * get 503, sessions are released and the process exits 0.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { buildMlpModel, writeModelFile } from '../../tools/model-builder/index.js';
import { freePort } from '../support/redis-server.js';
import { eventually } from '../support/gateway.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('finishes every in-flight request on SIGTERM and exits 0', async () => {
  const repo = await mkdtemp(join(tmpdir(), 'switchyard-shutdown-'));
  await writeModelFile(join(repo, 'mlp', '1', 'model.onnx'), buildMlpModel({ sizes: [256, 2048, 2048, 256] }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'main.ts')], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MODEL_REPO: repo, ROUTES_FILE: join(repo, 'routes.json'), LOG_LEVEL: 'info', RUNTIME_WORKERS: '1', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await eventually(async () => {
      try {
        return (await fetch(url + '/readyz')).status === 200;
      } catch {
        return false;
      }
    }, 30_000, 'gateway ready');

    const row = Array.from({ length: 256 }, (_, i) => (i % 5) / 5);
    const body = JSON.stringify({ inputs: { input: Array.from({ length: 512 }, () => row) } });
    const requests = Array.from({ length: 12 }, () =>
      fetch(url + '/models/mlp/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
        async (r) => ({ status: r.status, rows: ((await r.json()) as { outputs?: { output: unknown[] } }).outputs?.output.length }),
      ),
    );
    // Small bodies, heavy compute: all are accepted at once, then one worker runs them one by one
    // (seconds in all), so the signal arrives with most of them still in flight.
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    await eventually(() => log.includes('shutdown: refusing new requests'), 5_000, 'shutdown started');
    const late = await fetch(url + '/models/mlp/1/predict', { method: 'POST', body }).catch(() => undefined);
    const results = await Promise.all(requests);
    const code = await exited;

    if (process.env.DEBUG_SHUTDOWN) console.log(log, results);
    const drainLine = JSON.parse(log.split('\n').find((l) => l.includes('shutdown: refusing new requests'))!) as { inFlight: number };
    expect(drainLine.inFlight).toBeGreaterThan(0);
    expect(results).toEqual(Array.from({ length: 12 }, () => ({ status: 200, rows: 512 })));
    if (late) expect(late.status).toBe(503);
    expect(log).toContain('"event":"unloaded"');
    expect(log).toContain('"drained":true');
    expect(code).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(repo, { recursive: true, force: true });
  }
});
