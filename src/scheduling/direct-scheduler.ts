/**
 * Runs each request on its own, on the session that is active when it starts. The baseline that
 * the dynamic batcher replaces for batchable models; deadlines and cancellation are checked before
 * the session is taken, so an expired request never runs.
 */
import { SwitchyardError, isSwitchyardError } from '../errors.js';
import type { InferenceSession } from '../runtime/inference-runtime.js';
import type { InferenceRequest, InferenceResult, InferenceScheduler } from './inference-scheduler.js';

/** What the scheduler needs from the registry: a refcounted hold on the active session. */
export interface SessionLease {
  readonly version: number;
  readonly session: InferenceSession;
  release(): void;
}

export interface SessionLeaseProvider {
  acquire(model: string, version: number): SessionLease;
}

/** Throws if the request may no longer start: deadline passed (504) or client gone. */
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

export class DirectScheduler implements InferenceScheduler {
  private running = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly leases: SessionLeaseProvider) {}

  async infer(request: InferenceRequest): Promise<InferenceResult> {
    assertMayStart(request);
    const lease = this.leases.acquire(request.model, request.version);
    this.running++;
    try {
      const outputs = await lease.session.run(request.inputs, request.outputs);
      return { model: request.model, version: lease.version, outputs };
    } catch (error) {
      if (isSwitchyardError(error)) throw error;
      throw new SwitchyardError('INFERENCE_FAILED', `inference failed: ${(error as Error).message}`, { cause: error });
    } finally {
      lease.release();
      if (--this.running === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  get inFlight(): number {
    return this.running;
  }

  drain(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
