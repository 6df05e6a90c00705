/**
 * `switchyard rollout start|status|abort` as a real process against a real gateway on Redis:
 * the flags become the POST body, status prints the state and history, abort rolls back; bad
 * flags are usage errors (2), refusals exit 1 with the catalog's code.
 */
import { expect, it } from 'vitest';
import { runCli as cli } from '../support/cli.js';
import { startTestGateway } from '../support/gateway.js';
import { linearVersions } from '../support/models.js';

const TOKEN = 'rollout-cli-token';

it('starts, shows and aborts a rollout through the admin API', async () => {
  const t = await startTestGateway({ models: { linear: linearVersions(1, 2) }, env: { ADMIN_TOKEN: TOKEN }, redis: true });
  const env = { SWITCHYARD_URL: t.url, ADMIN_TOKEN: TOKEN };
  expect((await cli(['routes', 'set', 'linear', 'default=1'], env)).code).toBe(0);

  const started = await cli(['rollout', 'start', 'linear', '2', '--step', '25', '--max-weight', '75', '--interval-ms', '60000', '--min-requests', '50'], env);
  expect(started.code, started.stderr).toBe(0);
  expect(JSON.parse(started.stdout)).toMatchObject({ status: 'running', primary: 1, target: 2, weight: 25, spec: { step: 25, maxWeight: 75, intervalMs: 60_000, minRequests: 50 } });
  expect(JSON.parse((await cli(['routes', 'get', 'linear'], env)).stdout)).toEqual({ default: '1:75,2:25' });

  const again = await cli(['rollout', 'start', 'linear', '2'], env);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('409 ROLLOUT_IN_PROGRESS');

  const status = await cli(['rollout', 'status', 'linear'], env);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).history.map((row: { event: string }) => row.event)).toEqual(['started']);
  const all = await cli(['rollout', 'status'], env);
  expect(JSON.parse(all.stdout).rollouts).toHaveLength(1);

  const aborted = await cli(['rollout', 'abort', 'linear'], env);
  expect(aborted.code, aborted.stderr).toBe(0);
  expect(JSON.parse(aborted.stdout)).toMatchObject({ status: 'aborted' });
  expect(JSON.parse((await cli(['routes', 'get', 'linear'], env)).stdout)).toEqual({ default: '1' });

  const [badFlag, badVersion, settingsOnAbort, viaRedis, refused] = await Promise.all([
    cli(['rollout', 'start', 'linear', '2', '--step', 'ten'], env),
    cli(['rollout', 'start', 'linear', 'two'], env),
    cli(['rollout', 'abort', 'linear', '--step', '5'], env),
    cli(['rollout', 'status', '--redis', 'redis://127.0.0.1:6379']),
    cli(['rollout', 'start', 'linear', '2', '--step', '0'], env),
  ]);
  for (const result of [badFlag, badVersion, settingsOnAbort, viaRedis]) expect(result.code, result.stderr).toBe(2);
  expect(badFlag.stderr).toContain('--step must be a number, got "ten"');
  expect(viaRedis.stderr).toContain('talk to a gateway');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('400 INVALID_ROLLOUT: invalid rollout: step must be at least 1');
});

it('prints help for the rollout commands', async () => {
  const results = await Promise.all([['rollout', '--help'], ['rollout', 'start', '--help'], ['rollout', 'status', '-h'], ['rollout', 'abort', '--help']].map((args) => cli(args)));
  for (const result of results) {
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: switchyard rollout/);
  }
  expect(results[1]!.stdout).toContain('--max-p99-ratio 1.2');
});
