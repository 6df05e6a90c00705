/**
 * Several sessions of one model file acting as one (Triton's instance group): each run goes to
 * the live instance with the fewest runs in flight, so batches of one version run concurrently on
 * different worker threads. An instance whose worker died leaves the rotation at once (it would
 * otherwise fail every run instantly, look least busy and draw most of the traffic); the group is
 * lost only when every instance is.
 */
import type { ModelSignature, Tensor } from '../tensor.js';
import type { InferenceRuntime, InferenceSession, RunOptions, SessionOptions } from './inference-runtime.js';
import { sessionLostError } from './runtime-errors.js';

class SessionGroup implements InferenceSession {
  readonly instances: readonly InferenceSession[];
  readonly #inFlight: number[];
  readonly #modelPath: string;

  constructor(instances: InferenceSession[], modelPath: string) {
    this.instances = instances;
    this.#inFlight = instances.map(() => 0);
    this.#modelPath = modelPath;
  }

  get signature(): ModelSignature {
    return this.instances[0]!.signature;
  }

  /** Set once every instance is lost (the first one's reason). */
  get lostReason(): string | undefined {
    for (const instance of this.instances) if (instance.lostReason === undefined) return undefined;
    return this.instances[0]!.lostReason;
  }

  async run(inputs: Readonly<Record<string, Tensor>>, outputNames?: readonly string[], options?: RunOptions): Promise<Record<string, Tensor>> {
    let chosen = -1;
    for (let i = 0; i < this.instances.length; i++) {
      if (this.instances[i]!.lostReason !== undefined) continue;
      if (chosen < 0 || this.#inFlight[i]! < this.#inFlight[chosen]!) chosen = i;
    }
    if (chosen < 0) throw sessionLostError(this.#modelPath, this.lostReason ?? 'every instance was lost');
    this.#inFlight[chosen]! += 1;
    try {
      return await this.instances[chosen]!.run(inputs, outputNames, options);
    } finally {
      this.#inFlight[chosen]! -= 1;
    }
  }

  async release(): Promise<void> {
    await Promise.all(this.instances.map((instance) => instance.release()));
  }
}

/** The sessions that make up `session`: a group's instances, or the session itself. */
export function sessionInstances(session: InferenceSession): readonly InferenceSession[] {
  return session instanceof SessionGroup ? session.instances : [session];
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
  return loaded.length === 1 ? loaded[0]! : new SessionGroup(loaded, modelPath);
}
