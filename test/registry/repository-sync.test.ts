/**
 * End to end on disk: a temp repository watched by ModelRepository, loaded into a ModelRegistry
 * with real onnxruntime sessions through RepositorySync.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/model-registry.js';
import { RepositorySync } from '../../src/registry/repository-sync.js';
import { ModelRepository } from '../../src/repository/model-repository.js';
import { buildLinearModel, writeModelFile } from '../../tools/model-builder/index.js';
import { consistently, eventually, sleep } from '../support/eventually.js';
import { RUNTIMES, type RuntimeCase } from '../support/runtimes.js';
import { tempDir } from '../support/temp-dir.js';
import { expectedOutput, linear, runOnce } from './registry-fixtures.js';

describe.each(RUNTIMES)('RepositorySync on the $label runtime', (runtimeCase: RuntimeCase) => {
  let root: string;
  let runtime: ReturnType<RuntimeCase['create']>;
  let registry: ModelRegistry;
  let repository: ModelRepository;
  let sync: RepositorySync;
  let failures: { name: string; version: number; reason: string }[];

  beforeEach(async () => {
    root = (await tempDir('sync')).path;
    runtime = runtimeCase.create();
    registry = new ModelRegistry({ runtime });
    failures = [];
    registry.on('failed', ({ name, version, reason }) => failures.push({ name, version, reason }));
    // Twice the repository test's window: these runs share the CPU with onnxruntime workers.
    repository = new ModelRepository({ root, stabilityWindowMs: 600 });
    sync = new RepositorySync({ repository, registry });
  });

  afterEach(async () => {
    sync.close();
    await repository.close();
    await registry.close({ timeoutMs: 1000 });
    await runtime.close();
  });

  /** Waits for a condition; on giving up, says what the repository and registry saw instead. */
  function until(condition: () => boolean, what: string): Promise<void> {
    return eventually(condition, 15_000, () => {
      const seen = registry.models().map((name) => registry.versions(name).map(({ name: n, version, state, reason }) => ({ n, version, state, reason })));
      return `${what}; repository: ${JSON.stringify(repository.list())}; registry: ${JSON.stringify(seen)}`;
    });
  }

  const modelPath = (name: string, version: number) => path.join(root, name, String(version), 'model.onnx');
  const stateOf = (name: string, version: number) => registry.status(name, version)?.state;

  async function answer(name: string, version: number): Promise<number[]> {
    const lease = registry.acquire(name, version);
    try {
      return await runOnce(lease.session);
    } finally {
      lease.release();
    }
  }

  it('loads what is on disk at start, and unloads removed folders', async () => {
    await writeModelFile(modelPath('a', 1), buildLinearModel(linear(1)));
    await writeModelFile(modelPath('a', 2), buildLinearModel(linear(2)));
    await writeModelFile(modelPath('b', 1), buildLinearModel(linear(3)));
    await sync.start();
    await sync.whenIdle();
    expect(registry.models()).toEqual(['a', 'b']);
    expect(registry.servableVersions('a')).toEqual([1, 2]);
    expect(await answer('a', 2)).toEqual(expectedOutput(linear(2)));
    expect(await answer('b', 1)).toEqual(expectedOutput(linear(3)));

    await rm(path.join(root, 'a', '1'), { recursive: true });
    await until(() => registry.knownVersions('a').join() === '2', 'a/1 unloaded');
    await rm(path.join(root, 'b'), { recursive: true });
    await until(() => !registry.has('b'), 'b unloaded');
    await sync.whenIdle();
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 3, sessionsReleased: 2, loadFailures: 0 });
  });

  it('never loads a half-written file: a slow write loads once, after its last chunk', async () => {
    await sync.start();
    const bytes = buildLinearModel(linear(2));
    const file = modelPath('slow', 1);
    await mkdir(path.dirname(file), { recursive: true });
    const handle = await open(file, 'w');
    const chunk = Math.ceil(bytes.length / 5);
    try {
      for (let offset = 0; offset < bytes.length; offset += chunk) {
        await handle.write(bytes.subarray(offset, offset + chunk));
        expect(registry.has('slow')).toBe(false);
        await sleep(150);
      }
    } finally {
      await handle.close();
    }
    await until(() => stateOf('slow', 1) === 'READY', 'slow/1 READY');
    // Nothing loads it again: the one load was of the whole file.
    await consistently(() => registry.stats().sessionsLoaded === 1, 1000, 'one load');
    await sync.whenIdle();
    expect(failures).toEqual([]);
    expect(registry.stats()).toMatchObject({ sessionsLoaded: 1, loadFailures: 0, swaps: 0 });
    expect(await answer('slow', 1)).toEqual(expectedOutput(linear(2)));
  });

  it('recovers from a corrupt write with the next good one, serving the old model meanwhile', async () => {
    await writeModelFile(modelPath('m', 1), buildLinearModel(linear(1)));
    await sync.start();
    await sync.whenIdle();
    expect(stateOf('m', 1)).toBe('READY');

    await writeModelFile(modelPath('m', 1), new Uint8Array(randomBytes(2048)));
    await until(() => stateOf('m', 1) === 'FAILED', 'm/1 FAILED');
    expect(failures).toHaveLength(1);
    expect(registry.status('m', 1)!.reason).toBe(failures[0]!.reason);
    expect(await answer('m', 1)).toEqual(expectedOutput(linear(1)));

    await writeModelFile(modelPath('m', 1), buildLinearModel(linear(2)));
    await until(() => stateOf('m', 1) === 'READY', 'm/1 READY again');
    expect(registry.status('m', 1)!.reason).toBeUndefined();
    expect(await answer('m', 1)).toEqual(expectedOutput(linear(2)));
    expect(registry.stats()).toMatchObject({ loadFailures: 1, swaps: 1 });
  });

  it('keeps loading other models when one is broken', async () => {
    await writeModelFile(modelPath('broken', 1), new Uint8Array(randomBytes(1024)));
    await writeModelFile(modelPath('fine', 1), buildLinearModel(linear(1)));
    await sync.start();
    await sync.whenIdle();
    expect(stateOf('broken', 1)).toBe('FAILED');
    expect(stateOf('fine', 1)).toBe('READY');

    // The watcher is still alive after the failure: new models and versions keep arriving.
    await writeModelFile(modelPath('later', 4), buildLinearModel(linear(3)));
    await writeModelFile(modelPath('broken', 2), buildLinearModel(linear(2)));
    await until(() => stateOf('later', 4) === 'READY' && stateOf('broken', 2) === 'READY', 'later/4 and broken/2 READY');
    expect(await answer('later', 4)).toEqual(expectedOutput(linear(3)));
    expect(await answer('broken', 2)).toEqual(expectedOutput(linear(2)));
    expect(registry.servableVersions('broken')).toEqual([2]);
    expect(failures.map((f) => `${f.name}/${f.version}`)).toEqual(['broken/1']);
  });
});
