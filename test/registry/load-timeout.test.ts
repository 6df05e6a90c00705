/**
 * Loads are bounded (issue 12 item 2): a load that hangs is FAILED with "load timed out after N ms"
 * once MODEL_LOAD_TIMEOUT_MS passes, the version's next operation runs, and the session is released
 * if it ever arrives; close() returns within its budget whatever loads still run.
 *
 * The hang is real: the model path is a named pipe (test/support/stuck-file.ts), so the worker
 * thread sits in open(2) until the test writes a model into the pipe. Worker pool only: the same
 * open on the main thread (InProcessRuntime) would block the test itself.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors.js';
import { ModelRegistry } from '../../src/registry/model-registry.js';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { buildLinearModel } from '../../tools/model-builder/index.js';
import { eventually } from '../support/eventually.js';
import { stuckFile } from '../support/stuck-file.js';
import { expectedOutput, linear, modelFiles, runOnce, type ModelFiles } from './registry-fixtures.js';

let runtime: WorkerPoolRuntime;
let files: ModelFiles;
let registry: ModelRegistry | undefined;

beforeEach(async () => {
  runtime = new WorkerPoolRuntime({ workers: 2 });
  files = await modelFiles();
});

afterEach(async () => {
  await registry?.close({ timeoutMs: 1_000 });
  registry = undefined;
  await runtime.close();
});

describe('a load that hangs', () => {
  it('is FAILED with the timeout as its reason, frees the version for its next load, and its late session is released', async () => {
    registry = new ModelRegistry({ runtime, loadTimeoutMs: 300 });
    const stuck = await stuckFile();
    const failed: Array<{ version: number; reason: string; serving: boolean }> = [];
    registry.on('failed', ({ version, reason, serving }) => failed.push({ version, reason, serving }));

    const error = await registry.load('lin', 1, stuck.path).then(
      () => expect.fail('a load of a file that never arrives cannot succeed'),
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toBe('load timed out after 300 ms');
    expect(registry.status('lin', 1)).toMatchObject({ state: 'FAILED', reason: 'load timed out after 300 ms', servable: false });
    expect(failed).toEqual([{ version: 1, reason: 'load timed out after 300 ms', serving: false }]);

    // The version's queue moved on: a good file loads while the first load is still stuck.
    const good = await files.linear('good.onnx', 2);
    await registry.load('lin', 1, good);
    expect(registry.status('lin', 1)).toMatchObject({ state: 'READY', path: good, servable: true });
    expect(runtime.stats().sessions).toBe(2); // the good one and the one still loading

    // The stuck load finally gets its file: the session it makes never goes live and is released.
    await stuck.readerWaiting();
    expect(await stuck.release(buildLinearModel(linear(7)))).toBe(true);
    await eventually(() => registry!.stats().sessionsReleased === 1, 10_000, 'the late session released');
    await eventually(() => runtime.stats().sessions === 1, 10_000, 'the runtime holding only the good session');
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 2, sessionsReleased: 1, swaps: 0, loadFailures: 1 });
    expect(registry.status('lin', 1)).toMatchObject({ state: 'READY', path: good });
    const lease = registry.acquire('lin', 1);
    expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(2)));
    lease.release();
  });

  it('as a reload keeps the older session serving', async () => {
    registry = new ModelRegistry({ runtime, loadTimeoutMs: 300 });
    await registry.load('lin', 1, await files.linear('v1.onnx', 3));
    const stuck = await stuckFile();

    await expect(registry.load('lin', 1, stuck.path)).rejects.toThrow('load timed out after 300 ms');
    expect(registry.status('lin', 1)).toMatchObject({ state: 'FAILED', reason: 'load timed out after 300 ms', servable: true });
    const lease = registry.acquire('lin', 1);
    expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(3)));
    lease.release();

    // Released as an empty file, onnxruntime refuses it: nothing is left behind either way.
    await stuck.readerWaiting();
    expect(await stuck.release()).toBe(true);
    await eventually(() => runtime.stats().sessions === 1, 10_000, 'only the serving session left');
  });
});

describe('close() with a load still running', () => {
  it('returns within its budget, and the session that arrives afterwards is released', async () => {
    registry = new ModelRegistry({ runtime }); // the default load timeout: the load stays stuck
    await registry.load('lin', 1, await files.linear('v1.onnx', 1));
    const stuck = await stuckFile();
    let settled = false;
    const loading = registry.load('lin', 2, stuck.path).finally(() => (settled = true));
    loading.catch(() => undefined);
    await stuck.readerWaiting();

    await registry.close({ timeoutMs: 300 });
    // close() returned while the load was still blocked: the pipe still had its reader.
    expect(settled).toBe(false);
    expect(await stuck.release(buildLinearModel(linear(5)))).toBe(true);
    await eventually(() => runtime.stats().sessions === 0, 10_000, 'every session released, the late one included');
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 2, sessionsReleased: 2 });
  });
});
