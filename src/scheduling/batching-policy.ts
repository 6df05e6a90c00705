/**
 * How one model version is batched and queued, resolved from its config.json and its signature.
 * Batching defaults on for models whose inputs and outputs all have a dynamic first dimension.
 */
import type { ModelConfig } from '../repository/model-config.js';
import type { ModelSignature } from '../tensor.js';

export interface BatchingPolicy {
  /** Rows per batch; 0 runs each request alone. */
  readonly maxBatchSize: number;
  /** How long a batch below its target size may wait for more rows; 0 = greedy. */
  readonly maxQueueDelayMs: number;
  /** Ascending; batches are cut at the largest one that queued requests fill exactly. */
  readonly preferredBatchSizes: readonly number[];
  /** Requests queued before new ones are refused (503 QUEUE_FULL). */
  readonly maxQueueSize: number;
  /** Batches of this version that may run at once (its session instances). */
  readonly instances: number;
  /** Deadline for requests that carry none. */
  readonly defaultTimeoutMs: number | undefined;
}

export const DEFAULT_MAX_BATCH_SIZE = 64;
export const DEFAULT_MAX_QUEUE_SIZE = 1024;

/** Batchable: every input and output has rank >= 1 and a dynamic first dimension. */
export function isBatchable(signature: ModelSignature): boolean {
  const dynamicFirst = (shape: readonly number[]) => shape.length >= 1 && shape[0] === -1;
  return signature.inputs.every((i) => dynamicFirst(i.shape)) && signature.outputs.every((o) => dynamicFirst(o.shape));
}

export function resolveBatchingPolicy(config: ModelConfig, signature: ModelSignature | undefined): BatchingPolicy {
  const batchable = signature !== undefined && isBatchable(signature);
  const maxBatchSize = batchable ? (config.max_batch_size ?? DEFAULT_MAX_BATCH_SIZE) : 0;
  return {
    maxBatchSize,
    maxQueueDelayMs: config.max_queue_delay_ms ?? 0,
    preferredBatchSizes: [...(config.preferred_batch_sizes ?? [])].filter((size) => size <= maxBatchSize).sort((a, b) => a - b),
    maxQueueSize: config.max_queue_size ?? DEFAULT_MAX_QUEUE_SIZE,
    instances: config.instances ?? 1,
    defaultTimeoutMs: config.default_timeout_ms,
  };
}
