/**
 * Tracks requests in flight and turns new ones away once shutdown begins, so the ordered shutdown
 * can wait for exactly the requests it accepted. Health endpoints pass through so that /readyz can
 * say "closing" while the gateway drains.
 */
import type { MiddlewareHandler } from 'hono';
import { SwitchyardError } from '../../errors.js';

const ALWAYS_OPEN = new Set(['/healthz', '/readyz', '/metrics', '/v2/health/live', '/v2/health/ready']);

export class RequestGate {
  private inFlightCount = 0;
  private closingFlag = false;
  private idleWaiters: Array<() => void> = [];

  get closing(): boolean {
    return this.closingFlag;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** From now on, new requests get 503 SHUTTING_DOWN. */
  close(): void {
    this.closingFlag = true;
  }

  /** Resolves when every accepted request has answered, or after `timeoutMs`; true if drained. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.inFlightCount === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  middleware(): MiddlewareHandler {
    const gate = this;
    return async function requestGate(c, next) {
      if (ALWAYS_OPEN.has(c.req.path)) return next();
      if (gate.closingFlag) {
        throw new SwitchyardError('SHUTTING_DOWN', 'the gateway is shutting down; retry on another replica', {
          retryAfterSeconds: 1,
        });
      }
      gate.inFlightCount++;
      try {
        await next();
      } finally {
        if (--gate.inFlightCount === 0 && gate.idleWaiters.length > 0) {
          const waiters = gate.idleWaiters;
          gate.idleWaiters = [];
          for (const wake of waiters) wake();
        }
      }
    };
  }
}
