/**
 * Runs an async job's request exactly as a sync one runs: the native body decoded against the
 * signature of the version recorded at submit time, then the same scheduler (dynamic batcher),
 * so async and sync requests share batches. The version is never re-resolved: if it is gone,
 * the job fails saying so.
 */
import { SwitchyardError } from '../errors.js';
import { decodeNativeRequest, encodeNativeOutputs } from '../protocol/native-json-codec.js';
import type { InferenceScheduler } from '../scheduling/inference-scheduler.js';
import type { ModelSignature } from '../tensor.js';
import type { PredictionJobData } from './prediction-job.js';
import type { PredictionExecutor } from './prediction-worker.js';

/** What the executor needs to know of the live versions (the registry). */
export interface VersionSignatures {
  status(model: string, version: number): { readonly state: string; readonly reason?: string | undefined; readonly signature?: ModelSignature | undefined } | undefined;
}

export interface PredictionExecutorOptions {
  readonly versions: VersionSignatures;
  readonly scheduler: InferenceScheduler;
}

export function createPredictionExecutor(options: PredictionExecutorOptions): PredictionExecutor {
  const { versions, scheduler } = options;
  return async function executePrediction(data: PredictionJobData): Promise<string> {
    const { model, version } = data;
    const status = versions.status(model, version);
    if (!status) {
      throw new SwitchyardError(
        'VERSION_NOT_FOUND',
        `model '${model}' version ${version}, resolved when the job was submitted, is no longer in the repository`,
      );
    }
    if (!status.signature) {
      throw new SwitchyardError(
        'VERSION_NOT_READY',
        `model '${model}' version ${version} is ${status.state}${status.reason ? `: ${status.reason}` : ''}`,
      );
    }
    // Dropped only once the job finished, and a finished job never runs again; but never run on a guess.
    if (typeof data.payload !== 'string') throw new Error(`the input of this job is no longer in Redis`);
    const decoded = decodeNativeRequest(JSON.parse(data.payload), status.signature);
    const result = await scheduler.infer({ model, version, inputs: decoded.inputs, outputs: decoded.outputs });
    return encodeNativeOutputs(result.outputs);
  };
}
