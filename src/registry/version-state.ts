/**
 * The lifecycle of one model version, as the registry, /models and the V2 repository API report it:
 *
 *     LOADING -> READY -> (RELOADING -> READY) -> DRAINING -> UNLOADED
 *     LOADING | RELOADING -> FAILED -> (LOADING | RELOADING -> READY)
 *     READY | RELOADING | FAILED -> LOADING (its session died with its worker thread) -> READY
 *
 * FAILED after a bad reload still serves the older session; `servable` says whether requests can
 * be taken, independently of the state name.
 */
import type { ModelSignature } from '../tensor.js';
import type { WarmupReport } from './version-warmup.js';

export const VersionState = {
  /** First load of the version: nothing to serve yet. */
  LOADING: 'LOADING',
  READY: 'READY',
  /** A new file is loading as a standby session while the current one keeps serving. */
  RELOADING: 'RELOADING',
  /** The last load failed; see `reason`. Still serving if an older session is live. */
  FAILED: 'FAILED',
  /** Being unloaded: no new requests, in-flight ones finish. */
  DRAINING: 'DRAINING',
  UNLOADED: 'UNLOADED',
} as const;

export type VersionState = (typeof VersionState)[keyof typeof VersionState];

export interface VersionStatus {
  readonly name: string;
  readonly version: number;
  readonly state: VersionState;
  /** Why the last load failed (onnxruntime's message); only while the failure is the latest news. */
  readonly reason?: string;
  /** True when acquire() would hand out a session right now. */
  readonly servable: boolean;
  /** Of the session that serves; absent until a first load succeeds. */
  readonly signature?: ModelSignature;
  /** Leases not yet released, over the serving session and any retired one still draining. */
  readonly inFlight: number;
  /** When the serving session went live. */
  readonly loadedAt?: Date;
  /** The model file the serving session was loaded from. */
  readonly path?: string;
  /** How the serving session was warmed up. */
  readonly warmup?: WarmupReport;
}
