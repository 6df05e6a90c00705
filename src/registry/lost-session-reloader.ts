/**
 * Crash recovery: a worker thread that dies takes its sessions with it, and the runtime reports
 * each one lost. The registry takes the versions they served out of rotation (or, for a group with
 * live instances left, keeps serving on those), and each of those versions, and only those, loads
 * again from its file (standby, warmup, swap, as any reload), so the gateway heals without an
 * operator. A reload that fails is recorded by the registry (FAILED with the reason) like any other.
 */
import type { Logger } from 'pino';
import type { SessionLostEvent } from '../runtime/worker-pool-runtime.js';
import type { ModelRegistry } from './model-registry.js';

export interface LostSessionReloaderOptions {
  readonly registry: Pick<ModelRegistry, 'sessionLost' | 'load'>;
  /** Where each lost version is reported (at error level). */
  readonly logger: Logger;
}

export class LostSessionReloader {
  readonly #registry: LostSessionReloaderOptions['registry'];
  readonly #logger: Logger;

  constructor(options: LostSessionReloaderOptions) {
    this.#registry = options.registry;
    this.#logger = options.logger;
  }

  /** A worker thread died with a session: load the versions that session served again. */
  sessionLost({ session, reason }: SessionLostEvent): void {
    for (const lost of this.#registry.sessionLost(session, reason)) {
      this.#logger.error(
        { event: 'session-lost', model: lost.name, version: lost.version, reason, servable: lost.servable },
        'session lost with its worker; reloading',
      );
      this.#registry.load(lost.name, lost.version, lost.path).catch(() => undefined);
    }
  }
}
