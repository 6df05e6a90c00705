/**
 * ModelRegistry with real onnxruntime sessions: states, standby reloads, drains and failures.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors.js';
import { ModelRegistry, type ModelRegistryEvents } from '../../src/registry/model-registry.js';
import { VersionState } from '../../src/registry/version-state.js';
import { warmupInputs } from '../../src/registry/warmup-inputs.js';
import { thrownBy } from '../support/errors.js';
import { consistently, outcomeWithin } from '../support/eventually.js';
import { fixedRowsModel, multiIoModel } from '../support/models.js';
import { RUNTIMES, type RuntimeCase } from '../support/runtimes.js';
import { expectedOutput, linear, modelFiles, runOnce, type ModelFiles } from './registry-fixtures.js';

/** Calls `fn` after exactly `hops` more microtasks, and settles as its promise does. */
function inMicrotasks<T>(hops: number, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const step = (left: number): void => {
      if (left === 0) fn().then(resolve, reject);
      else queueMicrotask(() => step(left - 1));
    };
    step(hops);
  });
}

describe.each(RUNTIMES)('ModelRegistry on the $label runtime', (runtimeCase: RuntimeCase) => {
  let runtime: ReturnType<RuntimeCase['create']>;
  let registry: ModelRegistry;
  let files: ModelFiles;
  let events: { type: keyof ModelRegistryEvents; payload: unknown }[];

  beforeEach(async () => {
    runtime = runtimeCase.create();
    registry = new ModelRegistry({ runtime });
    files = await modelFiles();
    events = [];
    for (const type of ['loaded', 'swapped', 'failed', 'unloaded', 'released'] as const) {
      registry.on(type, (payload: unknown) => events.push({ type, payload }));
    }
  });

  afterEach(async () => {
    await registry.close({ timeoutMs: 1000 });
    await runtime.close();
  });

  const count = (type: keyof ModelRegistryEvents) => events.filter((e) => e.type === type).length;

  it('loads a version to READY with its signature and serves it', async () => {
    const file = await files.linear('v1.onnx', 1);
    const loading = registry.load('lin', 1, file);
    expect(registry.versions('lin')[0]!.state).toBe(VersionState.LOADING);
    expect(thrownBy(() => registry.acquire('lin', 1)).code).toBe('VERSION_NOT_READY');
    await loading;

    const [status] = registry.versions('lin');
    expect(status).toMatchObject({ name: 'lin', version: 1, state: 'READY', servable: true, inFlight: 0, path: file });
    expect(status!.reason).toBeUndefined();
    expect(status!.loadedAt).toBeInstanceOf(Date);
    expect(status!.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }],
    });
    expect(registry.models()).toEqual(['lin']);
    expect(registry.has('lin')).toBe(true);
    expect(registry.servableVersions('lin')).toEqual([1]);

    const lease = registry.acquire('lin', 1);
    expect(registry.versions('lin')[0]!.inFlight).toBe(1);
    expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(1)));
    lease.release();
    lease.release();
    expect(registry.versions('lin')[0]!.inFlight).toBe(0);
    expect(registry.stats()).toEqual({ sessionsLoaded: 1, sessionsReleased: 0, swaps: 0, loadFailures: 0 });
    expect(count('loaded')).toBe(1);
  });

  it('answers 404 for unknown models and versions, 400 for bad names', async () => {
    await registry.load('lin', 2, await files.linear('v2.onnx', 1));
    expect(thrownBy(() => registry.acquire('nope', 1))).toMatchObject({ code: 'MODEL_NOT_FOUND', status: 404 });
    expect(thrownBy(() => registry.acquire('lin', 3))).toMatchObject({ code: 'VERSION_NOT_FOUND', status: 404 });
    await expect(registry.load('..', 1, 'x')).rejects.toMatchObject({ code: 'INVALID_MODEL_NAME' });
    await expect(registry.load('ok', 0, 'x')).rejects.toMatchObject({ code: 'INVALID_MODEL_NAME' });
    expect(registry.models()).toEqual(['lin']);
  });

  it('swaps on reload and releases the old session only when its last lease ends', async () => {
    await registry.load('lin', 1, await files.linear('scale1.onnx', 1));
    const held = registry.acquire('lin', 1);

    const reloading = registry.load('lin', 1, await files.linear('scale2.onnx', 2));
    expect(registry.versions('lin')[0]!.state).toBe(VersionState.RELOADING);
    // The old session keeps serving new requests while the standby loads.
    const during = registry.acquire('lin', 1);
    expect(await runOnce(during.session)).toEqual(expectedOutput(linear(1)));
    during.release();
    await reloading;

    expect(registry.versions('lin')[0]).toMatchObject({ state: 'READY', inFlight: 1 });
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 2, swaps: 1, sessionsReleased: 0 });
    const fresh = registry.acquire('lin', 1);
    expect(await runOnce(fresh.session)).toEqual(expectedOutput(linear(2)));
    fresh.release();
    // The held lease still runs on the session it was given.
    expect(await runOnce(held.session)).toEqual(expectedOutput(linear(1)));
    expect(registry.stats().sessionsReleased).toBe(0);
    expect(count('released')).toBe(0);

    held.release();
    expect(registry.stats().sessionsReleased).toBe(1);
    expect(count('released')).toBe(1);
    expect(count('swapped')).toBe(1);
    held.release();
    expect(registry.stats().sessionsReleased).toBe(1);
    expect(registry.versions('lin')[0]!.inFlight).toBe(0);
  });

  it.each([
    ['random bytes', (f: ModelFiles) => f.garbage('bad.onnx')],
    ['a truncated model', (f: ModelFiles) => f.truncated('bad.onnx', 3)],
  ])('keeps serving the old session when a reload gets %s, then recovers', async (_label, writeBad) => {
    await registry.load('lin', 1, await files.linear('good1.onnx', 1));
    const badFile = await writeBad(files);

    const failure = await registry.load('lin', 1, badFile).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ModelLoadError);
    const failed = registry.versions('lin')[0]!;
    expect(failed.state).toBe(VersionState.FAILED);
    expect(failed.reason).toBe((failure as Error).message);
    expect(failed.reason).toMatch(/onnxruntime|protobuf|parse|load/i);
    expect(failed.servable).toBe(true);
    expect(registry.servableVersions('lin')).toEqual([1]);
    expect(events.find((e) => e.type === 'failed')!.payload).toMatchObject({ name: 'lin', version: 1, path: badFile, serving: true });

    const lease = registry.acquire('lin', 1);
    expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(1)));
    lease.release();
    expect(registry.stats()).toMatchObject({ loadFailures: 1, swaps: 0, sessionsReleased: 0 });

    await registry.load('lin', 1, await files.linear('good2.onnx', 2));
    const recovered = registry.versions('lin')[0]!;
    expect(recovered.state).toBe(VersionState.READY);
    expect(recovered.reason).toBeUndefined();
    const after = registry.acquire('lin', 1);
    expect(await runOnce(after.session)).toEqual(expectedOutput(linear(2)));
    after.release();
    expect(registry.stats()).toMatchObject({ loadFailures: 1, swaps: 1, sessionsReleased: 1 });
  });

  it('fails a first load of a broken file with 503 VERSION_NOT_READY and the reason', async () => {
    await expect(registry.load('broken', 1, await files.garbage('broken.onnx'))).rejects.toBeInstanceOf(ModelLoadError);
    const [status] = registry.versions('broken');
    expect(status).toMatchObject({ state: 'FAILED', servable: false });
    expect(status!.reason).toBeTruthy();
    expect(status!.signature).toBeUndefined();
    expect(registry.servableVersions('broken')).toEqual([]);
    expect(registry.knownVersions('broken')).toEqual([1]);
    const error = thrownBy(() => registry.acquire('broken', 1));
    expect(error).toMatchObject({ code: 'VERSION_NOT_READY', status: 503 });
    expect(error.message).toContain('FAILED');
    expect(error.message).toContain(status!.reason!);

    await registry.load('broken', 1, await files.linear('fixed.onnx', 1));
    expect(registry.versions('broken')[0]).toMatchObject({ state: 'READY', servable: true });
    expect(registry.versions('broken')[0]!.reason).toBeUndefined();
  });

  it('with a required warmup, fails a model that loads but cannot run it, and releases that standby session', async () => {
    const strict = new ModelRegistry({ runtime, warmupFor: () => ({ mode: 'required' }) });
    try {
      await strict.load('lin', 1, await files.linear('good.onnx', 1));
      const trap = await files.bytes('trap.onnx', fixedRowsModel(3, 2));
      await expect(strict.load('lin', 1, trap)).rejects.toThrow(/warmup/);
      expect(strict.versions('lin')[0]).toMatchObject({ state: 'FAILED', servable: true });
      expect(strict.stats()).toMatchObject({ sessionsLoaded: 2, sessionsReleased: 1, loadFailures: 1, swaps: 0 });
      const lease = strict.acquire('lin', 1);
      expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(1)));
      lease.release();

      // Without warmup the same file goes live: proof that warmup is what caught it.
      const unwarmed = new ModelRegistry({ runtime, warmup: false, warmupFor: () => ({ mode: 'required' }) });
      await unwarmed.load('trap', 1, trap);
      expect(unwarmed.versions('trap')[0]).toMatchObject({ state: 'READY', warmup: { mode: 'off', source: 'none', ran: 0 } });
      await unwarmed.close();
    } finally {
      await strict.close({ timeoutMs: 1000 });
    }
  });

  it('by default (auto) serves a model whose generated warmup fails, and reports why', async () => {
    const failures: Array<{ name: string; version: number; reason: string }> = [];
    registry.on('warmup-failed', (e) => failures.push(e));
    const trap = await files.bytes('trap.onnx', fixedRowsModel(3, 2));
    await registry.load('trap', 1, trap);
    const [status] = registry.versions('trap');
    expect(status).toMatchObject({ state: 'READY', servable: true, warmup: { mode: 'auto', source: 'generated', samples: 0, ran: 0 } });
    expect(status!.warmup!.lastError).toMatch(/Reshape|reshape/);
    expect(failures).toEqual([{ name: 'trap', version: 1, path: trap, reason: status!.warmup!.lastError }]);
    expect(registry.stats()).toMatchObject({ loadFailures: 0 });
  });

  it('warms up models with INT64, BOOL and BYTES inputs', async () => {
    await registry.load('multi', 1, await files.bytes('multi.onnx', multiIoModel()));
    expect(registry.versions('multi')[0]).toMatchObject({ state: 'READY', servable: true });
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 1, loadFailures: 0 });
  });

  it('drains on unload: new requests fail, held work completes, then the session is released', async () => {
    await registry.load('lin', 1, await files.linear('v1.onnx', 1));
    await registry.load('lin', 2, await files.linear('v2.onnx', 2));
    const held = registry.acquire('lin', 1);

    let unloaded = false;
    const unloading = registry.unload('lin', 1).then(() => {
      unloaded = true;
    });
    expect(registry.versions('lin')[0]).toMatchObject({ version: 1, state: 'DRAINING', servable: false, inFlight: 1 });
    expect(thrownBy(() => registry.acquire('lin', 1))).toMatchObject({ code: 'VERSION_NOT_READY', status: 503 });
    expect(registry.servableVersions('lin')).toEqual([2]);

    expect(await runOnce(held.session)).toEqual(expectedOutput(linear(1)));
    await consistently(() => !unloaded && registry.stats().sessionsReleased === 0, 100, 'the unload waiting for the held lease');

    held.release();
    expect(registry.stats().sessionsReleased).toBe(1);
    await unloading;
    expect(unloaded).toBe(true);
    expect(count('unloaded')).toBe(1);
    expect(registry.knownVersions('lin')).toEqual([2]);
    expect(thrownBy(() => registry.acquire('lin', 1))).toMatchObject({ code: 'VERSION_NOT_FOUND', status: 404 });

    await registry.unload('lin', 2);
    expect(registry.has('lin')).toBe(false);
    expect(thrownBy(() => registry.acquire('lin', 2)).code).toBe('MODEL_NOT_FOUND');
    // Unknown versions unload as a no-op.
    await registry.unload('lin', 2);
  });

  it('coalesces loads queued behind a running one into one load of the newest file', async () => {
    const [a, b, c] = await Promise.all([files.linear('a.onnx', 1), files.linear('b.onnx', 2), files.linear('c.onnx', 3)]);
    const first = registry.load('lin', 1, a);
    const second = registry.load('lin', 1, b);
    const third = registry.load('lin', 1, c);
    await Promise.all([first, second, third]);
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 2, swaps: 1, loadFailures: 0 });
    const lease = registry.acquire('lin', 1);
    expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(3)));
    lease.release();
  });

  it('runs a load or unload queued in any microtask after the previous operation settled', async () => {
    // The old pump cleared its "running" flag one microtask after it found the queue empty; an
    // operation queued in between was never run and its promise never settled. Each trial queues
    // the second operation a given number of microtasks after the first one's promise settled,
    // so one of them lands exactly in that gap whatever the engine's await bookkeeping costs.
    const [first, second] = await Promise.all([files.linear('first.onnx', 1), files.linear('second.onnx', 2)]);
    const trial = async (version: number, hops: number, kind: 'load' | 'unload') => {
      const queued = registry.load('gap', version, first).then(() =>
        inMicrotasks(hops, () => (kind === 'load' ? registry.load('gap', version, second) : registry.unload('gap', version))),
      );
      return `${kind} ${hops} microtasks later: ${await outcomeWithin(queued, 10_000)}`;
    };
    const trials = [];
    for (let hops = 0; hops <= 8; hops++) {
      trials.push(trial(1 + hops, hops, 'load'), trial(101 + hops, hops, 'unload'));
    }
    const outcomes = await Promise.all(trials);
    expect(outcomes.filter((outcome) => !outcome.endsWith(': resolved'))).toEqual([]);
    for (let hops = 0; hops <= 8; hops++) {
      expect(registry.status('gap', 1 + hops)).toMatchObject({ state: 'READY', path: second });
      expect(registry.status('gap', 101 + hops)).toBeUndefined();
    }
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 27, swaps: 9, loadFailures: 0 });
  });

  it('releases every session on close, waiting for leases, and refuses new work', async () => {
    await registry.load('lin', 1, await files.linear('v1.onnx', 1));
    await registry.load('lin', 2, await files.linear('v2.onnx', 2));
    await registry.load('other', 1, await files.linear('o1.onnx', 1));
    await registry.load('lin', 1, await files.linear('v1b.onnx', 3));
    await registry.load('bad', 1, await files.garbage('bad.onnx')).catch(() => undefined);
    const held = registry.acquire('lin', 2);

    let closed = false;
    const closing = registry.close({ timeoutMs: 30_000 }).then(() => {
      closed = true;
    });
    expect(thrownBy(() => registry.acquire('other', 1))).toMatchObject({ code: 'SHUTTING_DOWN', status: 503 });
    await expect(registry.load('other', 2, 'x')).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(await runOnce(held.session)).toEqual(expectedOutput(linear(2)));
    await consistently(() => !closed, 100, 'the close waiting for the held lease');

    held.release();
    await closing;
    const stats = registry.stats();
    expect(stats.sessionsLoaded).toBe(4);
    expect(stats.sessionsReleased).toBe(stats.sessionsLoaded);
    expect(runtime.stats().sessions).toBe(0);
    expect(registry.models()).toEqual([]);
    await registry.close();
  });

  it('gives up on leases after the close timeout', async () => {
    await registry.load('lin', 1, await files.linear('v1.onnx', 1));
    registry.acquire('lin', 1); // never released
    await registry.close({ timeoutMs: 100 });
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 1, sessionsReleased: 1 });
    expect(runtime.stats().sessions).toBe(0);
  });
});

describe('warmupInputs', () => {
  it('builds one zero row per input, in each input\'s datatype', () => {
    const inputs = warmupInputs({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [-1, 4] },
        { name: 'ids', datatype: 'INT64', shape: [-1, 3] },
        { name: 'mask', datatype: 'BOOL', shape: [2, -1] },
        { name: 'text', datatype: 'BYTES', shape: [-1, 2] },
        { name: 'scalar', datatype: 'FP16', shape: [] },
      ],
      outputs: [],
    });
    expect(inputs.x).toEqual({ datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) });
    expect(inputs.ids).toEqual({ datatype: 'INT64', shape: [1, 3], data: new BigInt64Array(3) });
    expect(inputs.mask).toEqual({ datatype: 'BOOL', shape: [2, 1], data: new Uint8Array(2) });
    expect(inputs.text).toEqual({ datatype: 'BYTES', shape: [1, 2], data: ['', ''] });
    expect(inputs.scalar).toEqual({ datatype: 'FP16', shape: [], data: new Uint16Array(1) });
  });
});
