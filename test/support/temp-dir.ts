/**
 * Temp folders for tests: made under the OS temp dir, removed when the test (or file) ends,
 * whatever happened in it. Also lays out a model repository: <root>/<name>/<version>/model.onnx.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeModelFile } from '../../tools/model-builder/index.js';
import { cleanupAfter } from './cleanup.js';
import type { ModelSet } from './models.js';

export interface TempDir {
  readonly path: string;
  /** A path inside the folder. */
  join(...parts: string[]): string;
  /** Writes bytes (or text) to a path inside the folder, atomically (temp file + rename); returns the path. */
  write(relative: string, content: Uint8Array | string): Promise<string>;
  /** Removes the folder now (it is removed at the end of the test anyway). */
  remove(): Promise<void>;
}

/** A fresh folder named switchyard-<label>-*, removed when the current test (or file) ends. */
export async function tempDir(label: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `switchyard-${label}-`));
  const remove = () => rm(path, { recursive: true, force: true });
  cleanupAfter(remove);
  return {
    path,
    join: (...parts) => join(path, ...parts),
    async write(relative, content) {
      const target = join(path, relative);
      if (typeof content === 'string') await writeTextAtomically(target, content);
      else await writeModelFile(target, content);
      return target;
    },
    remove,
  };
}

/** Writes every model of `models` as <root>/<name>/<version>/model.onnx. */
export async function writeRepository(root: string, models: ModelSet): Promise<void> {
  for (const [name, versions] of Object.entries(models)) {
    for (const [version, bytes] of Object.entries(versions)) await writeModelFile(join(root, name, version, 'model.onnx'), bytes);
  }
}

/** A text file replaced in one step, as editors that save by rename do (watchers never see half of it). */
export async function writeTextAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}
