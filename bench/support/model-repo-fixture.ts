/** A temporary model repository for a benchmark run, built with the project's own model builder. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLinearModel, buildMlpModel, writeModelFile } from '../../tools/model-builder/index.js';

export const MLP_SIZES = [256, 1024, 1024, 256] as const;

export interface BenchRepo {
  readonly root: string;
  writeLinear(version: number, scale: number): Promise<void>;
  remove(): Promise<void>;
}

export async function createBenchRepo(): Promise<BenchRepo> {
  const root = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const repo: BenchRepo = {
    root,
    writeLinear: (version, scale) =>
      writeModelFile(join(root, 'linear', String(version), 'model.onnx'), buildLinearModel({ inputSize: 4, outputSize: 2, scale })),
    remove: () => rm(root, { recursive: true, force: true }),
  };
  await repo.writeLinear(1, 1);
  await writeModelFile(join(root, 'mlp', '1', 'model.onnx'), buildMlpModel({ sizes: [...MLP_SIZES] }));
  return repo;
}

export function linearBody(): string {
  return JSON.stringify({ inputs: { input: [[1, 2, 3, 4]] } });
}

export function mlpBody(rows = 1): string {
  const row = Array.from({ length: MLP_SIZES[0] }, (_, i) => ((i % 17) - 8) / 8);
  return JSON.stringify({ inputs: { input: Array.from({ length: rows }, () => row) } });
}
