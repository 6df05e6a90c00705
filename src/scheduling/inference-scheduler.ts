/**
 * The scheduling contract between protocol handlers and the registry: a request for one concrete
 * model version, answered by whatever session is active when it actually runs.
 */
import type { Tensor } from '../tensor.js';

export interface InferenceRequest {
  readonly model: string;
  readonly version: number;
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** Output names to return; all outputs when absent. */
  readonly outputs?: readonly string[];
  /** Epoch milliseconds after which the request must not start (answered 504). */
  readonly deadline?: number;
  /** Set when the client has gone away; a request not yet running is then dropped. */
  readonly client?: { readonly gone: boolean };
}

export interface InferenceResult {
  readonly model: string;
  readonly version: number;
  readonly outputs: Record<string, Tensor>;
}

export interface InferenceScheduler {
  infer(request: InferenceRequest): Promise<InferenceResult>;
  /** Resolves once nothing is queued or running. */
  drain(): Promise<void>;
}
