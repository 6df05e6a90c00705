/**
 * Deleting a version folder while requests for it are queued: they are answered by that version
 * (the README's drain: "in-flight requests finish"), new ones get 503 while it drains and 404 once
 * it is gone, on both protocols. Deterministic: the gateway's one worker thread is held by a load
 * stuck on a named pipe (test/support/stuck-file.ts), so the first batch waits in the worker and
 * the other requests wait in the batcher until the test lets the pipe go.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { LINEAR_INPUT, eventually, startTestGateway } from '../support/gateway.js';
import { expectError, expectV2Error } from '../support/http.js';
import { LINEAR_V2_INPUT, linearAnswer, linearModel } from '../support/models.js';
import { stuckFile } from '../support/stuck-file.js';

it('serves the requests queued for a deleted version, refuses new ones with 503 while it drains and 404 once gone', async () => {
  const t = await startTestGateway({ env: { RUNTIME_WORKERS: '1' }, models: { linear: { 1: linearModel(1), 2: linearModel(2) } } });
  const { registry, scheduler } = t.gateway;
  const runtime = t.gateway.runtime as WorkerPoolRuntime;
  const stuck = await stuckFile();
  void registry.load('stuck', 1, stuck.path).catch(() => undefined);
  await stuck.readerWaiting(); // the worker thread is held in open(2)

  const asked = Array.from({ length: 4 }, () => t.post('/models/linear/2/predict', LINEAR_INPUT));
  // One batch handed to the (held) worker, the rest queued behind it.
  await eventually(() => runtime.stats().inFlight === 2 && scheduler.queued('linear', 2) === 3, 10_000, 'one batch running, three queued');

  await rm(join(t.repo, 'linear', '2'), { recursive: true });
  await eventually(() => registry.status('linear', 2)?.state === 'DRAINING', 10_000, 'version 2 draining');
  await expectError(t.post('/models/linear/2/predict', LINEAR_INPUT), 503, 'VERSION_NOT_READY', 'DRAINING');
  await expectV2Error(t.post('/v2/models/linear/versions/2/infer', { inputs: [LINEAR_V2_INPUT] }), 503, 'DRAINING');

  expect(await stuck.release(linearModel(5))).toBe(true);
  const answers = await Promise.all(asked);
  for (const answer of answers) {
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-model-version')).toBe('2');
    expect(((await answer.json()) as { outputs: { output: number[][] } }).outputs.output).toEqual(linearAnswer(2));
  }

  await eventually(() => registry.status('linear', 2) === undefined, 10_000, 'version 2 gone');
  await expectError(t.post('/models/linear/2/predict', LINEAR_INPUT), 404, 'VERSION_NOT_FOUND');
  await expectV2Error(t.post('/v2/models/linear/versions/2/infer', { inputs: [LINEAR_V2_INPUT] }), 404, 'has no version 2');
  expect((await t.post('/models/linear/1/predict', LINEAR_INPUT)).status).toBe(200);
});
