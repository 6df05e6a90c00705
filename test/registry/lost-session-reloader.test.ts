/**
 * Lost sessions (issue 12 item 11), with real worker threads dying (WorkerPoolRuntime's crash hook
 * throws inside the worker, which exits): the version whose session died leaves the rotation at
 * once and only that version loads again, not another one loaded from the same file on a live
 * worker; in an instance group the dead instance leaves the rotation and the live ones serve.
 * The gateway-level picture (clients with requests in flight, several models on the crashed
 * worker) is test/integration/worker-crash.test.ts.
 */
import { afterEach, expect, it } from 'vitest';
import { LostSessionReloader } from '../../src/registry/lost-session-reloader.js';
import { ModelRegistry, type ModelLoadSettings } from '../../src/registry/model-registry.js';
import { sessionInstances } from '../../src/runtime/session-group.js';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { consistently, eventually } from '../support/eventually.js';
import { captureLog } from '../support/log-capture.js';
import { expectedOutput, linear, modelFiles, runOnce, type ModelFiles } from './registry-fixtures.js';

let runtime: WorkerPoolRuntime | undefined;
let registry: ModelRegistry | undefined;
let files: ModelFiles | undefined;

afterEach(async () => {
  await registry?.close({ timeoutMs: 1000 });
  await runtime?.close();
});

interface Harness {
  readonly runtime: WorkerPoolRuntime;
  readonly registry: ModelRegistry;
  readonly files: ModelFiles;
  /** 'session-lost' log lines. */
  readonly lostLines: Array<{ model?: string; version?: number; servable?: boolean }>;
  /** Loads that went live, per "name/version". */
  readonly loads: Map<string, number>;
  /** What the registry said of each version right after the loss was handled. */
  readonly afterLoss: Array<{ key: string; state?: string; servable?: boolean }>;
}

async function harness(instances = 1, warmup = true): Promise<Harness> {
  const { logger, lines: lostLines } = captureLog<Harness['lostLines'][number]>({ keep: (line) => line.event === 'session-lost' });
  const afterLoss: Harness['afterLoss'] = [];
  let reloader: LostSessionReloader | undefined;
  runtime = new WorkerPoolRuntime({
    workers: 2,
    onSessionLost: (event) => {
      reloader!.sessionLost(event);
      for (const name of registry!.models()) {
        for (const status of registry!.versions(name)) afterLoss.push({ key: `${name}/${status.version}`, state: status.state, servable: status.servable });
      }
    },
  });
  const settings: ModelLoadSettings = { instances };
  registry = new ModelRegistry({ runtime, loadSettingsFor: () => settings, warmup });
  reloader = new LostSessionReloader({ registry, logger });
  const loads = new Map<string, number>();
  registry.on('loaded', ({ name, version }) => loads.set(`${name}/${version}`, (loads.get(`${name}/${version}`) ?? 0) + 1));
  files = await modelFiles();
  return { runtime, registry, files, lostLines, loads, afterLoss };
}

it('takes the lost version out of rotation at once and reloads only it, not another version of the same file', async () => {
  const h = await harness();
  const shared = await h.files.linear('shared.onnx', 2);
  await h.registry.load('lin', 1, shared);
  await h.registry.load('lin', 2, shared);
  const doomed = h.registry.acquire('lin', 1);
  const healthy = h.registry.acquire('lin', 2);
  // Same file, different workers: a path tells them apart no more.
  expect(h.runtime.workerIndexOf(doomed.session)).not.toBe(h.runtime.workerIndexOf(healthy.session));
  const healthySession = healthy.session;
  healthy.release();

  h.runtime.simulateWorkerCrash(doomed.session);
  await eventually(() => h.lostLines.length > 0, 10_000, 'the loss reported');
  expect(h.lostLines).toEqual([expect.objectContaining({ model: 'lin', version: 1, servable: false })]);
  // Right after the loss: version 1 is out of rotation (loading again), version 2 untouched.
  expect(h.afterLoss).toEqual([
    { key: 'lin/1', state: 'LOADING', servable: false },
    { key: 'lin/2', state: 'READY', servable: true },
  ]);
  expect(() => h.registry.acquire('lin', 1)).toThrow(/LOADING: its session was lost when its worker thread exited .*simulated worker crash/);
  doomed.release();

  await eventually(() => h.registry.status('lin', 1)?.state === 'READY', 10_000, 'version 1 reloaded');
  expect(Object.fromEntries(h.loads)).toEqual({ 'lin/1': 2, 'lin/2': 1 });
  expect(h.registry.stats()).toMatchObject({ swaps: 0, loadFailures: 0 });
  for (const version of [1, 2]) {
    const lease = h.registry.acquire('lin', version);
    if (version === 2) expect(lease.session).toBe(healthySession);
    expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(2)));
    lease.release();
  }
});

it('keeps an instance group serving on its live instances, none of the runs going to the dead one, and reloads it', async () => {
  // No warmup: the background reload's warmup run would count among the 20 runs below.
  const h = await harness(2, false);
  const file = await h.files.linear('grp.onnx', 3);
  await h.registry.load('grp', 1, file);
  const lease = h.registry.acquire('grp', 1);
  const [dead, live] = sessionInstances(lease.session);
  expect(h.runtime.stats().sessionsPerWorker).toEqual([1, 1]);
  // The first instance is the one an idle group picks first: the worst one to lose.
  h.runtime.simulateWorkerCrash(dead!);
  await eventually(() => h.lostLines.length > 0, 10_000, 'the loss reported');
  expect(h.lostLines).toEqual([expect.objectContaining({ model: 'grp', version: 1, servable: true })]);
  expect(dead!.lostReason).toMatch(/simulated worker crash/);
  expect(live!.lostReason).toBeUndefined();
  expect(h.afterLoss).toEqual([{ key: 'grp/1', state: 'RELOADING', servable: true }]);

  const runsBefore = h.runtime.stats().runs;
  for (let i = 0; i < 20; i++) expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(3)));
  // Every run reached a live session: a run on the dead one fails before it is counted.
  expect(h.runtime.stats().runs - runsBefore).toBe(20);
  lease.release();

  await eventually(() => h.registry.stats().swaps === 1, 10_000, 'the group reloaded and swapped');
  expect(Object.fromEntries(h.loads)).toEqual({ 'grp/1': 2 });
  const fresh = h.registry.acquire('grp', 1);
  expect(sessionInstances(fresh.session).map((instance) => instance.lostReason)).toEqual([undefined, undefined]);
  expect(await runOnce(fresh.session)).toEqual(expectedOutput(linear(3)));
  fresh.release();
});

it('does not bring back a version whose session dies while it drains', async () => {
  const h = await harness();
  await h.registry.load('lin', 1, await h.files.linear('v1.onnx', 1));
  const lease = h.registry.acquire('lin', 1);
  const answered = h.registry.admit('lin', 1); // a request still queued holds the drain open
  const unloading = h.registry.unload('lin', 1);
  expect(h.registry.status('lin', 1)).toMatchObject({ state: 'DRAINING' });

  h.runtime.simulateWorkerCrash(lease.session);
  await eventually(() => h.runtime.stats().sessionsLost === 1, 10_000, 'the loss reported');
  expect(h.lostLines).toEqual([]);
  expect(h.afterLoss).toEqual([{ key: 'lin/1', state: 'DRAINING', servable: false }]);
  answered();
  lease.release();
  await unloading;
  await consistently(() => h.registry.status('lin', 1) === undefined, 500, 'version 1 stays unloaded');
  expect(Object.fromEntries(h.loads)).toEqual({ 'lin/1': 1 });
});
