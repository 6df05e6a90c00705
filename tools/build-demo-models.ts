/**
 * Regenerates the committed demo repository and routing table, byte for byte:
 *
 *   npx tsx tools/build-demo-models.ts [repoDir] [routesPath]
 *
 * repoDir defaults to ./model-repo, routesPath to ./config/routes.json.
 *
 * The MLP is deliberately absent: at benchmark sizes it is megabytes, so benchmarks build it
 * into a temp folder instead of the repository carrying it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildLinearModel,
  buildMultiIoModel,
  buildNoBatchModel,
  writeModelFile,
} from './model-builder/index.js';

/** Model files of the demo repository, keyed by their path inside it. */
export function demoModels(): Record<string, Uint8Array> {
  return {
    'linear/1/model.onnx': buildLinearModel({ inputSize: 4, outputSize: 2, scale: 1 }),
    // Same weights doubled: a canary whose answers are easy to tell apart from stable's.
    'linear/2/model.onnx': buildLinearModel({ inputSize: 4, outputSize: 2, scale: 2 }),
    'multi_io/1/model.onnx': buildMultiIoModel(),
    'no_batch/1/model.onnx': buildNoBatchModel(),
  };
}

/** The embedded routing table served when REDIS_URL is unset. */
export const DEMO_ROUTES = {
  linear: { default: 'stable', stable: '1', canary: '2' },
} as const;

export async function buildDemoModels(repoDir: string, routesPath: string): Promise<string[]> {
  const written: string[] = [];
  for (const [relative, bytes] of Object.entries(demoModels())) {
    const path = join(repoDir, relative);
    await writeModelFile(path, bytes);
    written.push(path);
  }
  await mkdir(dirname(routesPath), { recursive: true });
  await writeFile(routesPath, `${JSON.stringify(DEMO_ROUTES, null, 2)}\n`);
  written.push(routesPath);
  return written;
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const repoDir = resolve(process.argv[2] ?? 'model-repo');
  const routesPath = resolve(process.argv[3] ?? 'config/routes.json');
  for (const path of await buildDemoModels(repoDir, routesPath)) console.log(`wrote ${path}`);
}
