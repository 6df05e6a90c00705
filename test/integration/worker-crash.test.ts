/**
 * A worker thread dies with a batch in flight and several models on it (issues 11 and 12 item 11).
 * The crash is real: WorkerPoolRuntime's test hook makes the worker throw an uncaught exception
 * (the thread exits) when its next run arrives, so that run is in flight as it dies.
 *
 * What must hold: the clients of the in-flight batch get 500 INFERENCE_FAILED saying the worker
 * exited, the others a clean 503 VERSION_NOT_READY with Retry-After (or 200 once reloaded), none
 * hangs; the crashed versions leave the rotation at once (no request reaches the dead session);
 * exactly the versions whose sessions lived on that worker load again, once each; all recover.
 */
import { expect, it } from 'vitest';
import type { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { LINEAR_INPUT, eventually, startTestGateway } from '../support/gateway.js';
import { captureLog } from '../support/log-capture.js';
import { linearAnswer, linearModel } from '../support/models.js';

const MODELS = { m_a: 1, m_b: 2, m_c: 3, m_d: 4 } as const;
type ModelName = keyof typeof MODELS;

interface Answer {
  readonly status: number;
  readonly code?: string;
  readonly message?: string;
  readonly retryAfter: string | null;
}

it('fails the in-flight batch cleanly, takes the lost versions out of rotation, reloads exactly them and all recover', async () => {
  const { logger, lines: lostLines } = captureLog<Array<{ model: string; version: number }>[number]>({ keep: (line) => line.event === 'session-lost' });
  const models = Object.fromEntries(Object.entries(MODELS).map(([name, scale]) => [name, { 1: linearModel(scale) }]));
  const t = await startTestGateway({ models, logger, env: { RUNTIME_WORKERS: '2' } });
  const { registry } = t.gateway;
  const runtime = t.gateway.runtime as WorkerPoolRuntime;
  expect(runtime.stats().sessionsPerWorker).toEqual([2, 2]);

  const workerOf = (name: ModelName): number => {
    const lease = registry.acquire(name, 1);
    try {
      return runtime.workerIndexOf(lease.session)!;
    } finally {
      lease.release();
    }
  };
  const names = Object.keys(MODELS) as ModelName[];
  const crashedWorker = workerOf('m_a');
  const onCrashed = names.filter((name) => workerOf(name) === crashedWorker);
  const elsewhere = names.filter((name) => !onCrashed.includes(name));
  expect(onCrashed).toHaveLength(2); // several models on the crashed worker

  const states = new Map<string, string[]>();
  registry.on('state-changed', ({ name, state }) => states.set(name, [...(states.get(name) ?? []), state]));
  const loads = new Map<string, number>();
  registry.on('loaded', ({ name }) => loads.set(name, (loads.get(name) ?? 0) + 1));
  const swapsBefore = registry.stats().swaps;

  const ask = async (name: ModelName): Promise<Answer> => {
    const response = await t.post(`/models/${name}/1/predict`, LINEAR_INPUT);
    const body = (await response.json()) as { error?: { code: string; message: string }; outputs?: { output: number[][] } };
    if (response.status === 200) expect(body.outputs!.output).toEqual(linearAnswer(MODELS[name]));
    return { status: response.status, code: body.error?.code, message: body.error?.message, retryAfter: response.headers.get('retry-after') };
  };

  const lease = registry.acquire('m_a', 1);
  runtime.simulateWorkerCrash(lease.session, { onNextRun: true });
  lease.release();
  const answers = await Promise.all(Array.from({ length: 8 }, () => ask('m_a')));

  const inFlight = answers.filter((a) => a.status === 500);
  expect(inFlight.length).toBeGreaterThanOrEqual(1);
  for (const answer of inFlight) {
    expect(answer).toMatchObject({ code: 'INFERENCE_FAILED', message: expect.stringMatching(/worker thread running .* exited \(simulated worker crash\)/) });
  }
  for (const answer of answers.filter((a) => a.status !== 500 && a.status !== 200)) {
    // Refused by the registry or the router, never by a run on the dead session ("must be loaded again").
    expect(answer).toMatchObject({ status: 503, code: 'VERSION_NOT_READY', retryAfter: '1' });
    expect(answer.message).toMatch(/LOADING/);
    expect(answer.message).not.toMatch(/must be loaded again/);
  }
  expect(answers.filter((a) => ![200, 500, 503].includes(a.status))).toEqual([]);

  await eventually(() => onCrashed.every((name) => registry.status(name, 1)?.state === 'READY'), 15_000, 'the crashed versions reloaded');
  // The lost ones left the rotation at once (LOADING, not servable) instead of a standby reload
  // behind a dead active session; the others never moved.
  for (const name of onCrashed) expect(states.get(name)).toEqual(['LOADING', 'READY']);
  for (const name of elsewhere) expect(states.get(name)).toBeUndefined();
  expect(registry.stats().swaps).toBe(swapsBefore);
  expect(lostLines.map((line) => line.model).sort()).toEqual([...onCrashed].sort());
  expect(Object.fromEntries(loads)).toEqual(Object.fromEntries(onCrashed.map((name) => [name, 1])));

  // Everything serves again, on a replacement worker for the crashed ones.
  for (const name of names) expect(await ask(name)).toMatchObject({ status: 200 });
  expect(runtime.stats()).toMatchObject({ workers: 2, workerExits: 1, sessionsLost: 2, sessions: 4 });
});
