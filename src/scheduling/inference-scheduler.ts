/**
 * The scheduling contract between protocol handlers and the registry: a request for one concrete
 * model version, answered by whatever session is active when it actually runs.
 */
import type { Tensor } from '../tensor.js';
import type { VersionCounters } from './version-counters.js';

export interface InferenceRequest {
  readonly model: string;
  readonly version: number;
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** Output names to return; all outputs when absent. */
  readonly outputs?: readonly string[];
  /** Epoch milliseconds after which the request must not start (answered 504). */
  readonly deadline?: number;
  /** The client's connection: a request not yet running is dropped once it is gone. */
  readonly client?: ClientConnection;
  /** The request's id (`x-request-id`), passed on when the request is forwarded to another node. */
  readonly requestId?: string;
  /**
   * Told the request's own input tensors once a run of it alone is done with them (a worker
   * thread hands buffers it was moved back), so their owner can reuse the buffers. Not called
   * when the request ran in a merged batch: its inputs were copied, the originals never left.
   * Default: none (the buffers stay with the runtime's thread, for its garbage collector).
   */
  readonly recycleInputs?: (inputs: Readonly<Record<string, Tensor>>) => void;
}

export interface ClientConnection {
  readonly gone: boolean;
  /** Calls `listener` once if the client goes away; returns a function that stops watching. */
  onGone?(listener: () => void): () => void;
}

export interface InferenceResult {
  readonly model: string;
  readonly version: number;
  readonly outputs: Record<string, Tensor>;
  /** The other node (or backend target) that ran it, for `x-served-by`; undefined = this process ran it. */
  readonly servedBy?: string;
}

export interface InferenceScheduler {
  infer(request: InferenceRequest): Promise<InferenceResult>;
  /** Resolves once nothing is queued or running. */
  drain(): Promise<void>;
  /** Counters of one model version; undefined before its first request. */
  counters?(model: string, version: number): VersionCounters | undefined;
}
