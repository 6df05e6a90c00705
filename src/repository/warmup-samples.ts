/**
 * Warmup samples shipped with a model, as Triton's `model_warmup` and TF Serving's
 * `assets.extra/tf_serving_warmup_requests` ship them: request bodies in
 * `<name>/<version>/warmup/*.json`, else `<name>/warmup/*.json`. Only read here (bounded in count
 * and size, so a stray folder cannot exhaust memory); decoding them against the version's
 * signature and running them is the registry's job, at each load.
 */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

export const WARMUP_DIR_NAME = 'warmup';
export const WARMUP_SAMPLE_EXTENSION = '.json';

export interface WarmupSampleOptions {
  /** Most sample files one folder may hold; more is an error (never a silent cut). Default 16. */
  readonly maxFiles?: number;
  /** Largest sample file, bytes; a larger one is an error. Default 16 MiB (BODY_LIMIT_BYTES's default). */
  readonly maxBytes?: number;
}

export interface WarmupSampleFile {
  /** Absolute path: what a failure names. */
  readonly file: string;
  readonly body: Buffer;
}

export interface WarmupSampleSet {
  /** The folder the samples came from; undefined when neither folder exists. */
  readonly folder: string | undefined;
  /** In file name order; empty when there is no folder or it holds no *.json. */
  readonly samples: readonly WarmupSampleFile[];
}

/** A sample folder or file that cannot be used; the message names it. */
export class WarmupSampleError extends Error {
  override readonly name = 'WarmupSampleError';
}

const DEFAULT_MAX_FILES = 16;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The samples of one version: its own `warmup/` folder when that exists (even empty: a version
 * may opt out of its model's samples), else the model's. Rejects with WarmupSampleError when a
 * folder holds too many samples, a sample is too large or cannot be read.
 */
export async function readWarmupSamples(modelDir: string, version: number, limits: WarmupSampleOptions = {}): Promise<WarmupSampleSet> {
  const maxFiles = limits.maxFiles ?? DEFAULT_MAX_FILES;
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  for (const folder of [path.join(modelDir, String(version), WARMUP_DIR_NAME), path.join(modelDir, WARMUP_DIR_NAME)]) {
    const names = await sampleNames(folder);
    if (names === undefined) continue;
    if (names.length > maxFiles) {
      throw new WarmupSampleError(`${folder} holds ${names.length} warmup samples; at most ${maxFiles} are allowed`);
    }
    const samples: WarmupSampleFile[] = [];
    for (const name of names) {
      const file = path.join(folder, name);
      samples.push({ file, body: await readBounded(file, maxBytes) });
    }
    return { folder, samples };
  }
  return { folder: undefined, samples: [] };
}

/** The *.json names in a folder, sorted; undefined when it does not exist (or is not a folder). */
async function sampleNames(folder: string): Promise<string[] | undefined> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new WarmupSampleError(`warmup folder ${folder} cannot be read: ${(error as Error).message}`);
  }
  return entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && entry.name.endsWith(WARMUP_SAMPLE_EXTENSION))
    .map((entry) => entry.name)
    .sort();
}

/** Reads at most maxBytes + 1 bytes, so a file that grows while it is read cannot pass the limit. */
async function readBounded(file: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new WarmupSampleError(`warmup sample ${file} cannot be read: ${(error as Error).message}`);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new WarmupSampleError(`warmup sample ${file} is ${size} bytes; the limit is ${maxBytes}`);
    const buffer = Buffer.alloc(Math.min(size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new WarmupSampleError(`warmup sample ${file} is over ${maxBytes} bytes; the limit is ${maxBytes}`);
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof WarmupSampleError) throw error;
    throw new WarmupSampleError(`warmup sample ${file} cannot be read: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}
