/**
 * The errors a session's run() rejects with, as catalog errors so the HTTP layer maps them without
 * knowing about runtimes. `details.reason` tells the cases apart for callers (and tests) that care.
 */
import { SwitchyardError, messageOf } from '../errors.js';

export type RuntimeFailureReason = 'onnxruntime' | 'worker-exited' | 'session-lost' | 'session-released' | 'runtime-closed';

export interface RuntimeFailureDetails {
  readonly reason: RuntimeFailureReason;
  readonly modelPath: string;
}

/** onnxruntime refused or failed a run; its message is kept verbatim. */
export function inferenceFailedError(modelPath: string, message: string, cause?: unknown): SwitchyardError {
  return new SwitchyardError('INFERENCE_FAILED', `inference failed: ${message}`, {
    details: { reason: 'onnxruntime', modelPath } satisfies RuntimeFailureDetails,
    cause,
  });
}

/** The worker thread holding the session died while this run was in flight. */
export function workerExitedError(modelPath: string, why: string): SwitchyardError {
  return new SwitchyardError('INFERENCE_FAILED', `inference failed: the worker thread running ${modelPath} exited (${why})`, {
    details: { reason: 'worker-exited', modelPath } satisfies RuntimeFailureDetails,
  });
}

/** A run on a session whose worker died earlier: the model must be loaded again. */
export function sessionLostError(modelPath: string, why: string): SwitchyardError {
  return new SwitchyardError('VERSION_NOT_READY', `the session for ${modelPath} was lost when its worker thread exited (${why}); it must be loaded again`, {
    details: { reason: 'session-lost', modelPath } satisfies RuntimeFailureDetails,
    // The registry reloads a lost session at once (LostSessionReloader).
    retryAfterSeconds: 1,
  });
}

/** run() after release(): the registry let go of a session that still had users, a bug. */
export function sessionReleasedError(modelPath: string): SwitchyardError {
  return new SwitchyardError('INTERNAL', `run() on a released session (${modelPath})`, {
    details: { reason: 'session-released', modelPath } satisfies RuntimeFailureDetails,
  });
}

export function runtimeClosedError(modelPath: string): SwitchyardError {
  return new SwitchyardError('SHUTTING_DOWN', `the inference runtime is closed (${modelPath})`, {
    details: { reason: 'runtime-closed', modelPath } satisfies RuntimeFailureDetails,
  });
}

/**
 * True when onnxruntime itself refused or failed the run (inferenceFailedError): the inputs were
 * the problem, so the same session may still answer other inputs. False for a worker that died,
 * a lost or released session, a closed runtime, or anything else.
 */
export function isOnnxruntimeFailure(error: unknown): boolean {
  return (
    error instanceof SwitchyardError &&
    error.code === 'INFERENCE_FAILED' &&
    (error.details as Partial<RuntimeFailureDetails> | undefined)?.reason === 'onnxruntime'
  );
}

export { messageOf };
