/** Shared by the registry tests: real runtimes, real model files, and the answers they must give. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import type { InferenceRuntime, InferenceSession } from '../../src/runtime/inference-runtime.js';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { buildLinearModel, GraphBuilder, linearModelWeights, writeModelFile, type LinearModelOptions } from '../../tools/model-builder/index.js';

export interface RuntimeCase {
  readonly label: string;
  create(): InferenceRuntime & { stats(): { sessions: number } };
}

/** Every test runs on both real runtimes: the registry must not depend on which one it holds. */
export const RUNTIMES: readonly RuntimeCase[] = [
  { label: 'in-process', create: () => new InProcessRuntime() },
  { label: 'worker-pool', create: () => new WorkerPoolRuntime({ workers: 2 }) },
];

export const LINEAR = { inputSize: 3, outputSize: 2 } as const;

export function linear(scale: number): LinearModelOptions {
  return { ...LINEAR, scale, seed: 7 };
}

export const INPUT_ROW = [1, 2, -1] as const;

/** input · W + b for INPUT_ROW, computed independently of onnxruntime. */
export function expectedOutput(options: LinearModelOptions): number[] {
  const { weight, bias } = linearModelWeights(options);
  const out: number[] = [];
  for (let j = 0; j < options.outputSize; j++) {
    let sum = bias[j]!;
    for (let i = 0; i < options.inputSize; i++) sum += INPUT_ROW[i]! * weight[i * options.outputSize + j]!;
    out.push(sum);
  }
  return out;
}

export async function runOnce(session: InferenceSession): Promise<number[]> {
  const outputs = await session.run({ input: { datatype: 'FP32', shape: [1, LINEAR.inputSize], data: Float32Array.from(INPUT_ROW) } });
  return [...(outputs.output!.data as Float32Array)];
}

/**
 * Loads fine but cannot run on the one-row warmup input: Reshape to a fixed [2, 3] needs six
 * elements, a single row has three.
 */
export function buildWarmupFailingModel(): Uint8Array {
  return new GraphBuilder({ name: 'reshape-trap' })
    .input('input', 'FP32', [-1, 3])
    .output('output', 'FP32', [2, 3])
    .initializer('target', 'INT64', [2], BigInt64Array.from([2n, 3n]))
    .node('Reshape', ['input', 'target'], ['output'])
    .build();
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
  remove(): Promise<void>;
}

export async function modelFiles(): Promise<ModelFiles> {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchyard-registry-'));
  const write = async (file: string, bytes: Uint8Array) => {
    const target = path.join(dir, file);
    await writeModelFile(target, bytes);
    return target;
  };
  return {
    dir,
    linear: (file, scale) => write(file, buildLinearModel(linear(scale))),
    garbage: (file) => write(file, new Uint8Array(randomBytes(4096))),
    truncated: (file, scale) => {
      const full = buildLinearModel(linear(scale));
      return write(file, full.subarray(0, Math.floor(full.length / 2)));
    },
    bytes: write,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
