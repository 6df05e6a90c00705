/**
 * What only the registry tests share: a three-input linear model and its one input row, and a
 * temp folder of model files (good, garbage, truncated). Runtimes, temp folders, reference
 * answers and other models come from test/support.
 */
import { randomBytes } from 'node:crypto';
import type { InferenceSession } from '../../src/runtime/inference-runtime.js';
import { buildLinearModel, type LinearModelOptions } from '../../tools/model-builder/index.js';
import { linearOutput } from '../support/models.js';
import { tempDir } from '../support/temp-dir.js';

export const LINEAR = { inputSize: 3, outputSize: 2 } as const;

export function linear(scale: number): LinearModelOptions {
  return { ...LINEAR, scale, seed: 7 };
}

export const INPUT_ROW = [1, 2, -1] as const;

/** What the model of `options` answers for INPUT_ROW, computed independently of onnxruntime. */
export function expectedOutput(options: LinearModelOptions): number[] {
  return Array.from(linearOutput(options, INPUT_ROW));
}

export async function runOnce(session: InferenceSession): Promise<number[]> {
  const outputs = await session.run({ input: { datatype: 'FP32', shape: [1, LINEAR.inputSize], data: Float32Array.from(INPUT_ROW) } });
  return [...(outputs.output!.data as Float32Array)];
}

export interface ModelFiles {
  readonly dir: string;
  /** A valid linear model with this scale, written atomically; returns its path. */
  linear(file: string, scale: number): Promise<string>;
  /** Random bytes that are not an ONNX model. */
  garbage(file: string): Promise<string>;
  /** The first half of a valid model. */
  truncated(file: string, scale: number): Promise<string>;
  bytes(file: string, bytes: Uint8Array): Promise<string>;
}

/** A temp folder of model files, removed when the test (or file) that made it ends. */
export async function modelFiles(): Promise<ModelFiles> {
  const dir = await tempDir('registry');
  const write = (file: string, bytes: Uint8Array) => dir.write(file, bytes);
  return {
    dir: dir.path,
    linear: (file, scale) => write(file, buildLinearModel(linear(scale))),
    garbage: (file) => write(file, new Uint8Array(randomBytes(4096))),
    truncated: (file, scale) => {
      const full = buildLinearModel(linear(scale));
      return write(file, full.subarray(0, Math.floor(full.length / 2)));
    },
    bytes: write,
  };
}
