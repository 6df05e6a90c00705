/**
 * `model-repo/<name>/config.json`: per-model batching, queue, instance, session and warmup settings.
 * Parsed strictly (unknown keys are refused: a typo must not silently fall back to a default) and
 * reported with a message naming the field; absent fields take defaults when they are used.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { SessionOptions } from '../runtime/inference-runtime.js';

const positiveInt = z.number().int().positive();

const modelConfigSchema = z
  .object({
    /** Rows per batch; 0 turns batching off. Default: 64 when every input and output has a dynamic first dim, else 0. */
    max_batch_size: z.number().int().min(0).max(1_000_000).optional(),
    /** How long a batch below its target size may wait for more requests. Default 0 (greedy, as Triton). */
    max_queue_delay_ms: z.number().min(0).max(60_000).optional(),
    /** Batch sizes to prefer when more rows are queued than one batch takes. Default none. */
    preferred_batch_sizes: z.array(positiveInt).max(64).optional(),
    /** Requests queued per version before new ones get 503. Default 1024. */
    max_queue_size: positiveInt.max(1_000_000).optional(),
    /** Sessions per version, run concurrently on the worker pool. Default 1. */
    instances: positiveInt.max(64).optional(),
    /** Deadline for requests that do not set x-request-timeout-ms. Default none. */
    default_timeout_ms: positiveInt.max(3_600_000).optional(),
    /** onnxruntime session options for this model; each defaults to the RUNTIME_* setting. */
    intra_op_threads: positiveInt.max(256).optional(),
    inter_op_threads: positiveInt.max(256).optional(),
    graph_optimization_level: z.enum(['disabled', 'basic', 'extended', 'all']).optional(),
    /**
     * How a load is warmed up (README "Warmup"): `auto` runs the model's warmup samples, or else a
     * generated one whose failure is only logged; `required` makes the generated one count too;
     * `off` runs none. Default `auto`. Applied at each load, so a change waits for the next one.
     */
    warmup: z.enum(['auto', 'required', 'off']).optional(),
    /** Closeness of shadow outputs to the primary's (README "Shadow traffic"). Default SHADOW_RTOL and SHADOW_ATOL. */
    shadow_rtol: z.number().min(0).max(1).optional(),
    shadow_atol: z.number().min(0).optional(),
  })
  .strict();

export type ModelConfig = z.infer<typeof modelConfigSchema>;

export class ModelConfigError extends Error {
  override readonly name = 'ModelConfigError';
}

export function parseModelConfig(raw: unknown, source = 'config.json'): ModelConfig {
  const result = modelConfigSchema.safeParse(raw);
  if (result.success) {
    const config = result.data;
    if (config.preferred_batch_sizes && config.max_batch_size !== undefined) {
      const tooLarge = config.preferred_batch_sizes.filter((size) => size > config.max_batch_size!);
      if (tooLarge.length > 0) {
        throw new ModelConfigError(`${source}: preferred_batch_sizes ${tooLarge.join(', ')} exceed max_batch_size ${config.max_batch_size}`);
      }
    }
    return config;
  }
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ModelConfigError(`${source}: ${problems.join('; ')}`);
}

/** Reads and parses a config file; a missing file is the empty config. */
export async function readModelConfig(path: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ModelConfigError(`${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelConfigError(`${path}: not valid JSON: ${(error as Error).message}`);
  }
  return parseModelConfig(json, path);
}

/** True when two configs would load sessions differently (a reload is needed to apply them). */
export function sessionSettingsDiffer(a: ModelConfig, b: ModelConfig): boolean {
  return (
    a.instances !== b.instances ||
    a.intra_op_threads !== b.intra_op_threads ||
    a.inter_op_threads !== b.inter_op_threads ||
    a.graph_optimization_level !== b.graph_optimization_level
  );
}

/** How a model's sessions load, as config.json asks: what the registry passes at each load. */
export interface ModelSessionSettings {
  /** Only the options config.json sets; the rest stay the RUNTIME_* settings. */
  readonly sessionOptions: Partial<SessionOptions>;
  /** Sessions per version. Default 1. */
  readonly instances: number;
}

/** config.json's session fields (snake_case) -> the runtime's session options. */
export function sessionSettingsOf(config: ModelConfig): ModelSessionSettings {
  return {
    sessionOptions: {
      ...(config.intra_op_threads === undefined ? {} : { intraOpThreads: config.intra_op_threads }),
      ...(config.inter_op_threads === undefined ? {} : { interOpThreads: config.inter_op_threads }),
      ...(config.graph_optimization_level === undefined ? {} : { graphOptimizationLevel: config.graph_optimization_level }),
    },
    instances: config.instances ?? 1,
  };
}
