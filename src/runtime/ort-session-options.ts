/**
 * Our SessionOptions (the config's vocabulary) resolved against the defaults and mapped to
 * onnxruntime's session options. Both runtimes resolve on the calling thread so that a bad
 * option fails the load before any worker is involved.
 */
import type { InferenceSession as OrtInferenceSession } from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';
import { DEFAULT_SESSION_OPTIONS, type GraphOptimizationLevel, type SessionOptions } from './inference-runtime.js';

const LEVELS: readonly GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'all'];

/** Fills in defaults and validates; throws ModelLoadError naming the bad option. */
export function resolveSessionOptions(options: Partial<SessionOptions> = {}): SessionOptions {
  const resolved: SessionOptions = {
    intraOpThreads: options.intraOpThreads ?? DEFAULT_SESSION_OPTIONS.intraOpThreads,
    interOpThreads: options.interOpThreads ?? DEFAULT_SESSION_OPTIONS.interOpThreads,
    graphOptimizationLevel: options.graphOptimizationLevel ?? DEFAULT_SESSION_OPTIONS.graphOptimizationLevel,
  };
  for (const key of ['intraOpThreads', 'interOpThreads'] as const) {
    const value = resolved[key];
    // 0 is onnxruntime's own "choose for me"; negative or fractional counts are config mistakes.
    if (!Number.isInteger(value) || value < 0) {
      throw new ModelLoadError(`invalid session option ${key}: ${String(value)} (expected an integer >= 0)`);
    }
  }
  if (!LEVELS.includes(resolved.graphOptimizationLevel)) {
    throw new ModelLoadError(
      `invalid session option graphOptimizationLevel: ${String(resolved.graphOptimizationLevel)} (expected one of ${LEVELS.join(', ')})`,
    );
  }
  return resolved;
}

export function toOrtSessionOptions(options: SessionOptions): OrtInferenceSession.SessionOptions {
  return {
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: options.interOpThreads,
    graphOptimizationLevel: options.graphOptimizationLevel,
    // Parallel mode only helps graphs with independent branches and fights the worker pool for cores.
    executionMode: 'sequential',
    // Idle intra-op threads must sleep, not spin: the cores are shared with the HTTP thread.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}
