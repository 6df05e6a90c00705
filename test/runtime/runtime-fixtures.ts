/** Shared by the runtime tests: model files in a temp folder and the answers they must give. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linearModelWeights, writeModelFile, type LinearModelOptions } from '../../tools/model-builder/index.js';

export interface ModelFolder {
  readonly dir: string;
  /** Writes `bytes` as <dir>/<name>.onnx and returns its path. */
  write(name: string, bytes: Uint8Array): Promise<string>;
  remove(): Promise<void>;
}

export async function modelFolder(): Promise<ModelFolder> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-runtime-'));
  return {
    dir,
    async write(name, bytes) {
      const path = join(dir, `${name}.onnx`);
      await writeModelFile(path, bytes);
      return path;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** input · W + b computed in float64, then rounded to float32 like the model's output. */
export function linearExpected(options: LinearModelOptions, input: Float32Array): Float32Array {
  const { weight, bias } = linearModelWeights(options);
  const rows = input.length / options.inputSize;
  const out = new Float32Array(rows * options.outputSize);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < options.outputSize; j++) {
      let sum = 0;
      for (let i = 0; i < options.inputSize; i++) sum += input[r * options.inputSize + i]! * weight[i * options.outputSize + j]!;
      out[r * options.outputSize + j] = sum + bias[j]!;
    }
  }
  return out;
}

/** Small integers: every product and sum with quarter-step weights is exact in float32. */
export function integerRows(rows: number, width: number, offset: number): Float32Array {
  return Float32Array.from({ length: rows * width }, (_, i) => ((i + offset) % 7) - 3);
}
