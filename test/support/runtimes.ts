/** Both real InferenceRuntime implementations, for tests that must hold on either. */
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import type { InferenceRuntime } from '../../src/runtime/inference-runtime.js';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';

export interface RuntimeCase {
  readonly label: string;
  create(): InferenceRuntime & { stats(): { sessions: number } };
}

export const RUNTIMES: readonly RuntimeCase[] = [
  { label: 'InProcessRuntime', create: () => new InProcessRuntime() },
  { label: 'WorkerPoolRuntime', create: () => new WorkerPoolRuntime({ workers: 2 }) },
];
