/**
 * ModelRepository against real folders: what it announces, when, and how often.
 */
import { mkdir, open, rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelRepository, type ModelRepositoryOptions } from '../../src/repository/model-repository.js';
import { consistently, eventually, sleep } from '../support/eventually.js';
import { tempDir } from '../support/temp-dir.js';

type Announcement =
  | { type: 'version-added' | 'version-changed'; name: string; version: number; path: string; at: number }
  | { type: 'version-removed'; name: string; version: number; at: number }
  | { type: 'config-changed'; name: string; exists: boolean; at: number }
  | { type: 'ready'; at: number };

let root: string;
let repository: ModelRepository | undefined;
let events: Announcement[];
let ignored: string[];

beforeEach(async () => {
  root = (await tempDir('repo')).path;
  events = [];
  ignored = [];
});

afterEach(async () => {
  await repository?.close();
  repository = undefined;
});

function watchRepository(options: Partial<ModelRepositoryOptions> = {}): ModelRepository {
  const repo = new ModelRepository({ root, stabilityWindowMs: 100, ...options });
  let sequence = 0;
  repo.on('version-added', (e) => events.push({ type: 'version-added', ...e, at: sequence++ }));
  repo.on('version-changed', (e) => events.push({ type: 'version-changed', ...e, at: sequence++ }));
  repo.on('version-removed', (e) => events.push({ type: 'version-removed', ...e, at: sequence++ }));
  repo.on('config-changed', (e) => events.push({ type: 'config-changed', name: e.name, exists: e.exists, at: sequence++ }));
  repo.on('ready', () => events.push({ type: 'ready', at: sequence++ }));
  repo.on('ignored', (e) => ignored.push(path.relative(root, e.path)));
  repository = repo;
  return repo;
}

async function writeVersion(name: string, version: number | string, content = 'model bytes'): Promise<string> {
  const dir = path.join(root, name, String(version));
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  await writeFile(file, content);
  return file;
}

const until = (condition: () => boolean, what: string): Promise<void> => eventually(condition, 10_000, what);

function announced(type: Announcement['type'], name?: string, version?: number): Announcement[] {
  return events.filter(
    (e) => e.type === type && (name === undefined || ('name' in e && e.name === name)) && (version === undefined || ('version' in e && e.version === version)),
  );
}

describe('ModelRepository', () => {
  it('announces every existing version, then ready', async () => {
    await writeVersion('alpha', 1);
    await writeVersion('alpha', 2);
    await writeVersion('beta.v2_x-y', 7);
    await writeFile(path.join(root, 'alpha', 'config.json'), '{}');
    const repo = watchRepository();
    expect(repo.scanned).toBe(false);
    await repo.start();
    expect(repo.scanned).toBe(true);
    await repo.whenScanned();

    const ready = events.find((e) => e.type === 'ready')!;
    const added = announced('version-added');
    expect(added.map((e) => ('name' in e && 'version' in e ? `${e.name}/${e.version}` : '')).sort()).toEqual([
      'alpha/1',
      'alpha/2',
      'beta.v2_x-y/7',
    ]);
    expect(added.every((e) => e.at < ready.at)).toBe(true);
    expect(announced('ready')).toHaveLength(1);
    expect(announced('config-changed', 'alpha')).toHaveLength(1);
    const first = added[0]!;
    expect(first.type === 'version-added' && path.isAbsolute(first.path) && first.path.endsWith(path.join(String(first.version), 'model.onnx'))).toBe(true);
    expect(repo.list()).toEqual([
      { name: 'alpha', versions: [1, 2] },
      { name: 'beta.v2_x-y', versions: [7] },
    ]);
  });

  it('ignores bad names and bad versions, reporting each once', async () => {
    await writeVersion('.hidden', 1);
    await writeVersion('bad name', 1);
    await writeVersion('-dash', 1);
    await writeVersion('good', 'abc');
    await writeVersion('good', 0);
    await writeVersion('good', '01');
    await writeVersion('good', '1.5');
    await writeVersion('good', 3);
    await writeFile(path.join(root, 'good', '3', 'notes.txt'), 'not a model');
    await writeFile(path.join(root, 'stray.onnx'), 'x');
    const repo = watchRepository();
    await repo.start();

    expect(announced('version-added').map((e) => ('version' in e ? e.version : 0))).toEqual([3]);
    expect(repo.list()).toEqual([{ name: 'good', versions: [3] }]);
    expect([...ignored].sort()).toEqual(
      ['.hidden', 'bad name', '-dash', 'good/abc', 'good/0', 'good/01', 'good/1.5', 'stray.onnx'].map((p) => p.split('/').join(path.sep)).sort(),
    );

    // New activity inside an ignored folder is not reported again and announces nothing.
    await writeFile(path.join(root, 'good', 'abc', 'model.onnx'), 'changed');
    await writeVersion('good', 4);
    await until(() => announced('version-added', 'good', 4).length === 1, 'good/4');
    expect(new Set(ignored).size).toBe(ignored.length);
    expect(announced('version-added')).toHaveLength(2);
  });

  it('leaves warmup/ folders to the loads: not a bad version, no announcement, whatever changes in them', async () => {
    await writeVersion('good', 1);
    await mkdir(path.join(root, 'good', 'warmup'), { recursive: true });
    await writeFile(path.join(root, 'good', 'warmup', 'sample.json'), '{"inputs": {}}');
    await mkdir(path.join(root, 'good', '1', 'warmup'), { recursive: true });
    await writeFile(path.join(root, 'good', '1', 'warmup', 'sample.json'), '{"inputs": {}}');
    const repo = watchRepository();
    await repo.start();
    expect(repo.list()).toEqual([{ name: 'good', versions: [1] }]);

    await writeFile(path.join(root, 'good', 'warmup', 'sample.json'), '{"inputs": {"x": [1]}}');
    await writeFile(path.join(root, 'good', 'warmup', 'new.json'), '{}');
    await writeVersion('good', 2);
    await until(() => announced('version-added', 'good', 2).length === 1, 'good/2');
    expect(ignored).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['version-added', 'ready', 'version-added']);
  });

  it('announces a slowly written file exactly once, after its last chunk', async () => {
    const repo = watchRepository({ stabilityWindowMs: 300 });
    await repo.start();
    await mkdir(path.join(root, 'slow', '1'), { recursive: true });
    const file = path.join(root, 'slow', '1', 'model.onnx');
    const handle = await open(file, 'w');
    let lastChunkAt = -1;
    try {
      for (let chunk = 0; chunk < 5; chunk++) {
        await handle.write(Buffer.alloc(1024, chunk));
        // Nothing may be announced while the writer is still going.
        expect(announced('version-added', 'slow')).toHaveLength(0);
        lastChunkAt = events.length;
        await sleep(150);
      }
    } finally {
      await handle.close();
    }
    expect(announced('version-added', 'slow')).toHaveLength(0);
    await until(() => announced('version-added', 'slow').length === 1, 'slow/1 announced');
    await consistently(() => announced('version-added', 'slow').length === 1 && announced('version-changed', 'slow').length === 0, 600, 'one announcement');
    expect(announced('version-added', 'slow')[0]!.at).toBeGreaterThanOrEqual(lastChunkAt);
  });

  it('waits for mtime to settle, not only size', async () => {
    const repo = watchRepository({ stabilityWindowMs: 300 });
    await repo.start();
    const file = await writeVersion('same-size', 1, 'aaaa');
    await until(() => announced('version-added', 'same-size').length === 1, 'same-size/1');
    // Rewrite in place with bytes of the same length, touching the mtime each time.
    for (let i = 0; i < 5; i++) {
      await writeFile(file, String(i).repeat(4));
      const when = new Date(Date.now() + (i + 1) * 1000);
      await utimes(file, when, when);
      await sleep(150);
      expect(announced('version-changed', 'same-size')).toHaveLength(0);
    }
    await until(() => announced('version-changed', 'same-size').length === 1, 'same-size/1 changed');
    await consistently(() => announced('version-changed', 'same-size').length === 1, 500, 'one change announced');
  });

  it('announces an overwrite as version-changed and a deletion as version-removed', async () => {
    const file = await writeVersion('m', 1, 'one');
    const repo = watchRepository();
    await repo.start();
    expect(announced('version-added', 'm', 1)).toHaveLength(1);

    await writeFile(file, 'two, longer');
    await until(() => announced('version-changed', 'm', 1).length === 1, 'm/1 changed');

    await rm(file);
    await until(() => announced('version-removed', 'm', 1).length === 1, 'm/1 removed');
    expect(repo.list()).toEqual([{ name: 'm', versions: [] }]);

    // Removing a whole version folder, and a whole model folder, also removes.
    await writeVersion('m', 2);
    await writeVersion('m', 3);
    await until(() => announced('version-added', 'm').length === 3, 'm/2 and m/3');
    await rm(path.join(root, 'm', '2'), { recursive: true });
    await until(() => announced('version-removed', 'm', 2).length === 1, 'm/2 removed');
    await rm(path.join(root, 'm'), { recursive: true });
    await until(() => announced('version-removed', 'm', 3).length === 1, 'm/3 removed');
    await consistently(() => announced('version-removed').length === 3, 300, 'three removals announced');
    expect(repo.list()).toEqual([]);
  });

  it('announces an atomic rename once, as added or changed', async () => {
    const repo = watchRepository();
    await repo.start();
    const dir = path.join(root, 'atomic', '5');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, '.model.onnx.tmp'), 'first');
    await rename(path.join(dir, '.model.onnx.tmp'), path.join(dir, 'model.onnx'));
    await until(() => announced('version-added', 'atomic', 5).length === 1, 'atomic/5 added');

    await writeFile(path.join(dir, '.model.onnx.tmp2'), 'second version');
    await rename(path.join(dir, '.model.onnx.tmp2'), path.join(dir, 'model.onnx'));
    await until(() => announced('version-changed', 'atomic', 5).length === 1, 'atomic/5 changed');
    await consistently(
      () => announced('version-added', 'atomic').length === 1 && announced('version-changed', 'atomic').length === 1 && announced('version-removed', 'atomic').length === 0,
      300,
      'one add and one change, no removal',
    );
    expect(ignored).toEqual([]);
  });

  it('sees files renamed into folders created a moment before', async () => {
    const repo = watchRepository();
    await repo.start();
    // What writeModelFile and `mkdir -p x/3 && mv tmp x/3/model.onnx` do, many times in a row.
    const targets = Array.from({ length: 8 }, (_, i) => ({ name: i % 2 === 0 ? `burst${i}` : 'shared', version: i + 1 }));
    for (const { name, version } of targets) {
      const dir = path.join(root, name, String(version));
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, '.tmp'), `model ${version}`);
      await rename(path.join(dir, '.tmp'), path.join(dir, 'model.onnx'));
    }
    await until(() => announced('version-added').length === targets.length, 'every burst version');
    expect(repo.list().flatMap((m) => m.versions.map((v) => `${m.name}/${v}`)).sort()).toEqual(targets.map((t) => `${t.name}/${t.version}`).sort());
    // The rescans a second after each new folder find nothing more to announce.
    await consistently(() => announced('version-added').length === targets.length && announced('version-changed').length === 0, 1200, 'no second announcement');
  });

  it('follows whole model folders appearing and disappearing', async () => {
    const repo = watchRepository();
    await repo.start();
    expect(repo.list()).toEqual([]);
    await mkdir(path.join(root, 'fresh', '3'), { recursive: true });
    await writeFile(path.join(root, 'fresh', '3', 'model.onnx'), 'bytes');
    await until(() => announced('version-added', 'fresh', 3).length === 1, 'fresh/3');
    expect(repo.list()).toEqual([{ name: 'fresh', versions: [3] }]);
    await rm(path.join(root, 'fresh'), { recursive: true, force: true });
    await until(() => announced('version-removed', 'fresh', 3).length === 1, 'fresh/3 removed');
    await until(() => repo.list().length === 0, 'fresh gone from list');
  });

  it('also works with polling', async () => {
    await writeVersion('polled', 1);
    const repo = watchRepository({ usePolling: true });
    await repo.start();
    expect(announced('version-added', 'polled', 1)).toHaveLength(1);
    await writeVersion('polled', 2);
    await until(() => announced('version-added', 'polled', 2).length === 1, 'polled/2');
  });

  it('rejects a missing root and closes twice', async () => {
    const repo = new ModelRepository({ root: path.join(root, 'nope') });
    await expect(repo.start()).rejects.toThrow(/not readable/);
    await repo.close();
    await repo.close();
    await expect(repo.whenScanned()).rejects.toThrow(/closed/);
  });
});
