/**
 * One loaded session and the leases out on it. Requests (or batches) borrow it with lease() and
 * give it back with release(); a session taken out of service (swapped out, unloaded, closed) is
 * freed when its last lease ends, never under a running request. Counting is synchronous: the
 * scheduler's hot path takes and ends a lease per batch.
 */
import type { InferenceSession } from '../runtime/inference-runtime.js';
import type { ModelSignature } from '../tensor.js';

/** Why a session was given back to the runtime. */
export type ReleaseCause = 'swapped' | 'unloaded' | 'closed' | 'discarded' | 'lost';

/** A session borrowed for one request (or one batch). Release it exactly when the work is done. */
export interface ModelLease {
  readonly name: string;
  readonly version: number;
  readonly session: InferenceSession;
  readonly signature: ModelSignature;
  /** Ends the lease. Safe to call more than once; only the first call counts. */
  release(): void;
}

/** Gives a session back to the runtime; settles once the runtime has freed it. */
export type FreeSession = (session: InferenceSession, path: string, cause: ReleaseCause) => Promise<void>;

export class LeasedSession {
  readonly session: InferenceSession;
  /** The model file it was loaded from. */
  readonly path: string;
  readonly loadedAt = new Date();
  /** Settles once the runtime has freed the session. */
  readonly whenReleased: Promise<void>;
  readonly #free: (session: LeasedSession, cause: ReleaseCause) => Promise<void>;
  #markReleased!: () => void;
  #inFlight = 0;
  #retired: ReleaseCause | undefined;
  #released = false;

  /** `free` is called exactly once, when the session is let go of (see retire() and release()). */
  constructor(session: InferenceSession, path: string, free: (session: LeasedSession, cause: ReleaseCause) => Promise<void>) {
    this.session = session;
    this.path = path;
    this.#free = free;
    this.whenReleased = new Promise<void>((resolve) => (this.#markReleased = resolve));
  }

  /** Leases not yet ended. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Borrows the session for the version it serves. */
  lease(name: string, version: number): ModelLease {
    this.#inFlight += 1;
    let ended = false;
    return {
      name,
      version,
      session: this.session,
      signature: this.session.signature,
      release: () => {
        if (ended) return;
        ended = true;
        this.#inFlight -= 1;
        if (this.#retired && this.#inFlight === 0) this.release();
      },
    };
  }

  /** Takes the session out of service; it is freed as soon as no lease holds it. */
  retire(cause: ReleaseCause): void {
    this.#retired = cause;
    if (this.#inFlight === 0) this.release();
  }

  /** Frees the session now, whatever leases are still out (close timeout). Only the first call counts. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#free(this, this.#retired ?? 'closed').then(this.#markReleased, this.#markReleased);
  }
}
