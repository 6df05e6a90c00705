/**
 * Shadow traffic: a sampled share of a model's requests runs again on the version the routing
 * table's `shadow` field names, after the primary has answered, and the two outputs are compared.
 *
 * The client never waits and is never affected: the copy starts on a later turn of the event loop
 * (the primary's answer is already on its way), through the same scheduler as real traffic but
 * with its own concurrency cap and a short deadline, and it is dropped (counted) rather than
 * queued when the cap is reached or the shadow version's queue is getting full. A shadow version
 * that is not READY or fails counts as a shadow error. Counts are kept per model and shadow
 * version, in memory, for GET /models/<name> and the metrics (read at scrape time).
 */
import { isSwitchyardError } from '../errors.js';
import type { ShadowTarget } from '../routing/shadow-target.js';
import type { InferenceScheduler } from '../scheduling/inference-scheduler.js';
import type { Tensor } from '../tensor.js';
import { compareOutputs, type OutputTolerance } from './output-comparison.js';

/** float32 has ~7 significant digits: 1e-5 relative leaves room for another batch composition or thread count. */
export const DEFAULT_SHADOW_TOLERANCE: OutputTolerance = Object.freeze({ rtol: 1e-5, atol: 1e-6 });

export interface ShadowMirrorOptions {
  /** Where shadow runs are scheduled: the one real traffic uses. Required. */
  readonly scheduler: InferenceScheduler;
  /** True while the version can take requests (READY); else the shadow counts as an error without running. Required. */
  readonly servable: (model: string, version: number) => boolean;
  /** True when the version's queue has no room left for shadows (real traffic keeps the rest). Default: never. */
  readonly queueFull?: (model: string, version: number) => boolean;
  /** Shadow runs queued or running at once, over every model; more are dropped. 0 drops every shadow. Default 8. */
  readonly maxConcurrency?: number;
  /** A shadow run that has not started this long after its primary answered is dropped. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** The model's closeness tolerances. Default DEFAULT_SHADOW_TOLERANCE for every model. */
  readonly tolerance?: (model: string) => OutputTolerance;
  /** Sampling draws in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

/** What happened to the mirrored requests of one model on one shadow version. */
export interface ShadowStats {
  readonly version: number;
  /** Requests whose primary answered and that were sampled: compared + errors + dropped. */
  readonly mirrored: number;
  /** Shadow runs whose outputs were compared: agreed + disagreed. */
  readonly compared: number;
  readonly agreed: number;
  readonly disagreed: number;
  /** The shadow version was not READY, or its run failed. */
  readonly errors: number;
  /** Not run: the concurrency cap or the version's queue was full, or its deadline passed. */
  readonly dropped: number;
  /** Largest |shadow - primary| over every element compared. */
  readonly maxAbsDifference: number;
  /** Class-score rows (2-D float outputs, classes > 1) compared by argmax, and those that agreed. */
  readonly argmaxRows: number;
  readonly argmaxAgreed: number;
}

/** One sampled request: told the primary's outputs once it has answered. */
export interface ShadowTicket {
  answered(primaryOutputs: Readonly<Record<string, Tensor>>): void;
}

type MutableStats = { -readonly [K in keyof ShadowStats]: ShadowStats[K] };

export class ShadowMirror {
  readonly #scheduler: InferenceScheduler;
  readonly #servable: (model: string, version: number) => boolean;
  readonly #queueFull: (model: string, version: number) => boolean;
  readonly #maxConcurrency: number;
  readonly #timeoutMs: number;
  readonly #tolerance: (model: string) => OutputTolerance;
  readonly #random: () => number;
  readonly #stats = new Map<string, Map<number, MutableStats>>();
  #running = 0;

  constructor(options: ShadowMirrorOptions) {
    this.#scheduler = options.scheduler;
    this.#servable = options.servable;
    this.#queueFull = options.queueFull ?? (() => false);
    this.#maxConcurrency = options.maxConcurrency ?? 8;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#tolerance = options.tolerance ?? (() => DEFAULT_SHADOW_TOLERANCE);
    this.#random = options.random ?? Math.random;
  }

  /** Shadow runs queued or running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Called before the primary runs, with the request as decoded: undefined when the request is not
   * sampled (no shadow, or not drawn). A sampled request's inputs are copied now, since the primary
   * may move their buffers to a worker thread or give them back to a pool once it has answered.
   */
  begin(model: string, shadow: ShadowTarget | undefined, inputs: Readonly<Record<string, Tensor>>, outputs?: readonly string[]): ShadowTicket | undefined {
    if (shadow === undefined) return undefined;
    if (shadow.percent < 100 && this.#random() * 100 >= shadow.percent) return undefined;
    const copy = copyInputs(inputs);
    return {
      answered: (primaryOutputs) => {
        try {
          this.#mirror(model, shadow.version, copy, outputs, primaryOutputs);
        } catch {
          // Whatever goes wrong with a shadow is the shadow's: the client's answer is already made.
          this.#statsOf(model, shadow.version).errors++;
        }
      },
    };
  }

  /** Every model's shadow versions and their counts. */
  all(): Array<ShadowStats & { readonly model: string }> {
    const rows: Array<ShadowStats & { readonly model: string }> = [];
    for (const [model, byVersion] of this.#stats) for (const stats of byVersion.values()) rows.push({ model, ...stats });
    return rows;
  }

  /** One model's shadow versions and their counts, by version. */
  stats(model: string): ShadowStats[] {
    return [...(this.#stats.get(model)?.values() ?? [])].map((stats) => ({ ...stats })).sort((a, b) => a.version - b.version);
  }

  /** Drops the counts of a shadow version that went away (its metrics series go with them). */
  forget(model: string, version: number): void {
    const byVersion = this.#stats.get(model);
    if (!byVersion) return;
    byVersion.delete(version);
    if (byVersion.size === 0) this.#stats.delete(model);
  }

  #mirror(model: string, version: number, inputs: Record<string, Tensor>, outputs: readonly string[] | undefined, primary: Readonly<Record<string, Tensor>>): void {
    const stats = this.#statsOf(model, version);
    stats.mirrored++;
    if (!this.#servable(model, version)) {
      stats.errors++;
      return;
    }
    if (this.#running >= this.#maxConcurrency || this.#queueFull(model, version)) {
      stats.dropped++;
      return;
    }
    this.#running++;
    const deadline = Date.now() + this.#timeoutMs;
    // A later turn: the primary's answer is written before the shadow is even queued.
    setImmediate(() => {
      this.#scheduler
        .infer({ model, version, inputs, ...(outputs === undefined ? {} : { outputs }), deadline })
        .then(
          (result) => {
            const comparison = compareOutputs(primary, result.outputs, this.#tolerance(model));
            const current = this.#statsOf(model, version);
            current.compared++;
            if (comparison.agreed) current.agreed++;
            else current.disagreed++;
            if (comparison.maxAbsDifference > current.maxAbsDifference) current.maxAbsDifference = comparison.maxAbsDifference;
            current.argmaxRows += comparison.argmaxRows;
            current.argmaxAgreed += comparison.argmaxAgreed;
          },
          (error: unknown) => {
            const current = this.#statsOf(model, version);
            const code = isSwitchyardError(error) ? error.code : undefined;
            // Refused for room or time: the shadow gave way to real traffic, as it should.
            if (code === 'QUEUE_FULL' || code === 'DEADLINE_EXCEEDED') current.dropped++;
            else current.errors++;
          },
        )
        .finally(() => {
          this.#running--;
        });
    });
  }

  #statsOf(model: string, version: number): MutableStats {
    let byVersion = this.#stats.get(model);
    if (!byVersion) {
      byVersion = new Map();
      this.#stats.set(model, byVersion);
    }
    let stats = byVersion.get(version);
    if (!stats) {
      stats = { version, mirrored: 0, compared: 0, agreed: 0, disagreed: 0, errors: 0, dropped: 0, maxAbsDifference: 0, argmaxRows: 0, argmaxAgreed: 0 };
      byVersion.set(version, stats);
    }
    return stats;
  }
}

/** Own copies of the inputs' elements (whole buffers, never views of a request body). */
function copyInputs(inputs: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  const copy: Record<string, Tensor> = {};
  for (const name of Object.keys(inputs)) {
    const { datatype, shape, data } = inputs[name]!;
    copy[name] = { datatype, shape: [...shape], data: Array.isArray(data) ? [...data] : data.slice() };
  }
  return copy;
}
