/**
 * `switchyard worker`: a real process that only works jobs. It serves probes and metrics, no
 * API; it works jobs submitted to another replica; SIGTERM stops it cleanly; without REDIS_URL it
 * refuses to start with a message saying so.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { randomPrefix } from '../support/redis.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('runs a worker-only replica that works jobs submitted elsewhere and stops on SIGTERM', async () => {
  const prefix = randomPrefix();
  const api: TestGateway = await startTestGateway({ env: { JOB_CONCURRENCY: '0' }, redis: { prefix } });
  const worker: GatewayProcess = await startGatewayProcess(
    { MODEL_REPO: api.repo, ROUTES_FILE: `${api.repo}/routes.json`, RUNTIME_WORKERS: '1' },
    { entry: ['src/cli/main.ts', 'worker'], redis: { prefix } },
  );
  expect(worker.log()).toContain('"mode":"worker"');
  expect((await fetch(`${worker.url}/metrics`)).status).toBe(200);
  const refused = await fetch(`${worker.url}/models/linear/1/predict`, { method: 'POST', body: JSON.stringify(LINEAR_INPUT) });
  expect(refused.status).toBe(404);

  const submitted = (await (await api.post('/jobs', { model: 'linear', ...LINEAR_INPUT })).json()) as { job_id: string };
  const done = (await (await fetch(`${api.url}/jobs/${submitted.job_id}?wait=20`)).json()) as { status: string; outputs: unknown };
  expect(done.status).toBe('SUCCESS');
  expect(done.outputs).toEqual(((await (await api.post('/models/linear/1/predict', LINEAR_INPUT)).json()) as { outputs: unknown }).outputs);

  worker.kill('SIGTERM');
  expect(await worker.exited).toBe(0);
  expect(worker.log()).toContain('"drained":true');
});

it('refuses to start a worker without REDIS_URL, saying why', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker'], {
    cwd: root,
    env: { ...process.env, REDIS_URL: '' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain('SWITCHYARD_MODE=worker works async jobs from Redis and needs REDIS_URL');
});
