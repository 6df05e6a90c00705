/**
 * What the scheduler needs from the registry (a refcounted hold on the active session of a
 * version) and the check every request passes before it may start running.
 */
import { SwitchyardError } from '../errors.js';
import type { InferenceSession } from '../runtime/inference-runtime.js';
import type { InferenceRequest } from './inference-scheduler.js';

export interface SessionLease {
  readonly version: number;
  readonly session: InferenceSession;
  release(): void;
}

export interface SessionLeaseProvider {
  acquire(model: string, version: number): SessionLease;
  /**
   * A request for the version was accepted (queued); the returned function says it was answered.
   * A version being unloaded keeps serving the requests accepted before (drain semantics).
   * Default: none (an unload then refuses requests still queued).
   */
  admit?(model: string, version: number): () => void;
}

/** Throws if the request may no longer start: client gone, or deadline passed (504). */
export function assertMayStart(request: InferenceRequest, now = Date.now()): void {
  if (request.client?.gone) {
    throw new SwitchyardError('REQUEST_CANCELLED', 'the client closed the connection before the request ran');
  }
  if (request.deadline !== undefined && now >= request.deadline) {
    throw new SwitchyardError('DEADLINE_EXCEEDED', 'the request deadline passed before it could run', {
      details: { deadline: new Date(request.deadline).toISOString() },
    });
  }
}
