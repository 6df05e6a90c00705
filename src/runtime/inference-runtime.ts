/**
 * The runtime contract: what the registry and scheduler need from an inference engine.
 *
 * Only files under src/runtime/ import onnxruntime-node; everything else sees these interfaces,
 * so a test or a benchmark can use a second real implementation (in-process vs worker threads).
 */
import type { ModelSignature, Tensor } from '../tensor.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOptions {
  /** Threads one session uses inside an operator. Default 1 (parallelism comes from workers). */
  readonly intraOpThreads: number;
  /** Threads across independent operators. Default 1. */
  readonly interOpThreads: number;
  /** onnxruntime graph optimisation level. Default 'all'. */
  readonly graphOptimizationLevel: GraphOptimizationLevel;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = Object.freeze({
  intraOpThreads: 1,
  interOpThreads: 1,
  graphOptimizationLevel: 'all',
});

export interface RunOptions {
  /**
   * Called with the input tensors once the runtime is done with them, their buffers usable
   * again (a worker pool sends them back), so a caller can reuse its buffers. Default: none.
   */
  readonly recycleInputs?: (inputs: Readonly<Record<string, Tensor>>) => void;
}

/** One loaded model file. Safe to call run() concurrently; release() once, after the last run. */
export interface InferenceSession {
  readonly signature: ModelSignature;
  /**
   * Runs the graph. Input data buffers may be transferred (detached) to a worker: callers must
   * not reuse them afterwards. `outputNames` defaults to every output.
   */
  run(inputs: Readonly<Record<string, Tensor>>, outputNames?: readonly string[], options?: RunOptions): Promise<Record<string, Tensor>>;
  /** Frees native memory. Idempotent. */
  release(): Promise<void>;
  /**
   * Why the session can no longer run (the worker thread holding it died), or undefined while it
   * can. Read on the hot path, so cheap. Absent for runtimes whose sessions cannot be lost.
   */
  readonly lostReason?: string | undefined;
}

export interface RuntimeCloseOptions {
  /**
   * How long close() waits for model loads still running before it gives up on their threads.
   * Runs are always waited for (they end). Default: as long as the loads take.
   */
  readonly loadWaitMs?: number;
  /**
   * Stop the threads at once, whatever they are doing (the process exits right after; a thread
   * stopped inside onnxruntime may abort it). Default false.
   */
  readonly force?: boolean;
}

export interface InferenceRuntime {
  /** Loads and validates a model file. Rejects with ModelLoadError carrying onnxruntime's reason. */
  load(modelPath: string, options?: Partial<SessionOptions>): Promise<InferenceSession>;
  /**
   * Releases every session and stops workers. Resolves true once every thread stopped; false when
   * a thread still inside a model load after `loadWaitMs` was left behind (onnxruntime cannot be
   * interrupted there, and the thread may be stuck in a system call). Idempotent.
   */
  close(options?: RuntimeCloseOptions): Promise<boolean>;
}
