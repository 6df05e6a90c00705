/**
 * Crash recovery: a worker thread that dies takes its sessions with it, and the runtime reports
 * each one lost by its model file. Every version serving from that file loads again (standby,
 * warmup, swap, as any reload), so the gateway heals without an operator. A reload that fails is
 * recorded by the registry (FAILED with the reason) like any other.
 */
import type { Logger } from 'pino';
import type { SessionLostEvent } from '../runtime/worker-pool-runtime.js';
import type { ModelRegistry } from './model-registry.js';

export interface LostSessionReloaderOptions {
  readonly registry: Pick<ModelRegistry, 'models' | 'versions' | 'load'>;
  /** Where each lost session is reported (at error level). */
  readonly logger: Logger;
}

export class LostSessionReloader {
  readonly #registry: LostSessionReloaderOptions['registry'];
  readonly #logger: Logger;

  constructor(options: LostSessionReloaderOptions) {
    this.#registry = options.registry;
    this.#logger = options.logger;
  }

  /** A worker thread died with a session: load the versions serving that file again from it. */
  sessionLost({ modelPath, reason }: SessionLostEvent): void {
    for (const name of this.#registry.models()) {
      for (const status of this.#registry.versions(name)) {
        if (status.path !== modelPath) continue;
        this.#logger.error({ event: 'session-lost', model: name, version: status.version, reason }, 'session lost with its worker; reloading');
        this.#registry.load(name, status.version, modelPath).catch(() => undefined);
      }
    }
  }
}
