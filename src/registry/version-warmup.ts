/**
 * The warmup of a standby session before it goes live, as Triton and TF Serving do it: the
 * samples that ship with the model must all run, or the load fails naming the sample; without
 * samples a generated one-row zero input runs, and since zeros are not valid data for every model
 * (a Resize's scales, a Slice's steps, a divisor), its failure refuses the session only when the
 * model asks for that (`required`). Samples are decoded by the same codecs as requests.
 */
import { ModelLoadError, messageOf } from '../errors.js';
import { decodeNativeRequest } from '../protocol/native-json-codec.js';
import { decodeInferRequest } from '../protocol/oip-request.js';
import type { InferenceSession } from '../runtime/inference-runtime.js';
import type { ModelSignature, Tensor } from '../tensor.js';
import { warmupInputs } from './warmup-inputs.js';

/** config.json's `warmup`. */
export type WarmupMode = 'auto' | 'required' | 'off';

export interface WarmupSample {
  /** What a failure names (the sample's path). */
  readonly file: string;
  /** A native (`{"inputs": {...}}`) or Open Inference Protocol (`{"inputs": [...]}`) JSON request body. */
  readonly body: Buffer;
}

/** What one load is warmed up with. */
export interface WarmupPlan {
  /** Default 'auto'. */
  readonly mode?: WarmupMode;
  /** Samples shipped with the model; none means the generated warmup. Default none. */
  readonly samples?: readonly WarmupSample[];
}

/** How the serving session was warmed up, as GET /models/<name> shows it. */
export interface WarmupReport {
  readonly mode: WarmupMode;
  /** `samples`: the shipped ones ran; `generated`: zeros ran; `none`: no warmup ran (off, or MODEL_WARMUP=false). */
  readonly source: 'samples' | 'generated' | 'none';
  /** Shipped samples found for this load. */
  readonly samples: number;
  /** Warmup inferences that succeeded. */
  readonly ran: number;
  /** Why the best-effort generated warmup failed (onnxruntime's reason); the session serves anyway. */
  readonly lastError?: string;
}

/** No warmup at all: MODEL_WARMUP=false, or `off`. */
export function noWarmup(mode: WarmupMode, samples = 0): WarmupReport {
  return { mode, source: 'none', samples, ran: 0 };
}

/**
 * Runs the plan on a loaded session. Resolves with what ran; rejects with ModelLoadError (naming
 * the sample file) when a sample fails to decode or run, or when a `required` generated warmup fails.
 */
export async function warmUp(session: InferenceSession, plan: WarmupPlan, path: string): Promise<WarmupReport> {
  const mode = plan.mode ?? 'auto';
  const samples = plan.samples ?? [];
  if (mode === 'off') return noWarmup(mode, samples.length);
  if (samples.length > 0) {
    for (const sample of samples) {
      const inputs = decodeWarmupSample(sample, session.signature);
      try {
        await session.run(inputs);
      } catch (error) {
        throw new ModelLoadError(`warmup sample ${sample.file} failed: ${messageOf(error)}`, { cause: error });
      }
    }
    return { mode, source: 'samples', samples: samples.length, ran: samples.length };
  }
  try {
    await session.run(warmupInputs(session.signature));
  } catch (error) {
    if (mode === 'required') {
      throw new ModelLoadError(`warmup inference failed for ${path}: ${messageOf(error)}`, { cause: error });
    }
    return { mode, source: 'generated', samples: 0, ran: 0, lastError: messageOf(error) };
  }
  return { mode, source: 'generated', samples: 0, ran: 1 };
}

/** A sample's inputs, decoded and validated against the signature like a request body. */
export function decodeWarmupSample(sample: WarmupSample, signature: ModelSignature): Record<string, Tensor> {
  let body: unknown;
  try {
    body = JSON.parse(sample.body.toString('utf8'));
  } catch (error) {
    throw new ModelLoadError(`warmup sample ${sample.file} is not valid JSON: ${messageOf(error)}`);
  }
  try {
    // The Open Inference Protocol lists its inputs; the native protocol maps names to them.
    if (body !== null && typeof body === 'object' && Array.isArray((body as { inputs?: unknown }).inputs)) {
      return decodeInferRequest(sample.body, undefined, signature).inputs;
    }
    return decodeNativeRequest(body, signature).inputs;
  } catch (error) {
    throw new ModelLoadError(`warmup sample ${sample.file} does not fit the model: ${messageOf(error)}`, { cause: error });
  }
}
