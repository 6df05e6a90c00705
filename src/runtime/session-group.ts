/**
 * Several sessions of one model file acting as one (Triton's instance group): each run goes to
 * the instance with the fewest runs in flight, so batches of one version run concurrently on
 * different worker threads.
 */
import type { ModelSignature, Tensor } from '../tensor.js';
import type { InferenceRuntime, InferenceSession, RunOptions, SessionOptions } from './inference-runtime.js';

class SessionGroup implements InferenceSession {
  readonly #instances: InferenceSession[];
  readonly #inFlight: number[];

  constructor(instances: InferenceSession[]) {
    this.#instances = instances;
    this.#inFlight = instances.map(() => 0);
  }

  get signature(): ModelSignature {
    return this.#instances[0]!.signature;
  }

  async run(inputs: Readonly<Record<string, Tensor>>, outputNames?: readonly string[], options?: RunOptions): Promise<Record<string, Tensor>> {
    let chosen = 0;
    for (let i = 1; i < this.#inFlight.length; i++) if (this.#inFlight[i]! < this.#inFlight[chosen]!) chosen = i;
    this.#inFlight[chosen]! += 1;
    try {
      return await this.#instances[chosen]!.run(inputs, outputNames, options);
    } finally {
      this.#inFlight[chosen]! -= 1;
    }
  }

  async release(): Promise<void> {
    await Promise.all(this.#instances.map((instance) => instance.release()));
  }
}

/**
 * Loads `instances` sessions of a model, one after another so the pool can place each on its
 * own worker; one instance is returned as it is. If any load fails the others are released.
 */
export async function loadSessionInstances(
  runtime: InferenceRuntime,
  modelPath: string,
  options: Partial<SessionOptions> | undefined,
  instances: number,
): Promise<InferenceSession> {
  const loaded: InferenceSession[] = [];
  try {
    for (let i = 0; i < Math.max(1, instances); i++) loaded.push(await runtime.load(modelPath, options));
  } catch (error) {
    await Promise.allSettled(loaded.map((session) => session.release()));
    throw error;
  }
  return loaded.length === 1 ? loaded[0]! : new SessionGroup(loaded);
}
