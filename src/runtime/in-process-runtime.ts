/**
 * Sessions on the calling thread. onnxruntime-node runs session.run synchronously on this thread,
 * so every run stalls the event loop: this is the in-process ceiling for benchmarks and a second
 * real implementation for tests, not what the server should use.
 */
import { InferenceSession as OrtInferenceSession, type Tensor as OrtTensor } from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';
import type { ModelSignature, Tensor } from '../tensor.js';
import type { InferenceRuntime, InferenceSession, RunOptions, SessionOptions } from './inference-runtime.js';
import { resolveSessionOptions, toOrtSessionOptions } from './ort-session-options.js';
import { fromOrtResults, signatureOf, toOrtFeeds } from './ort-tensors.js';
import { inferenceFailedError, messageOf, runtimeClosedError, sessionReleasedError } from './runtime-errors.js';

export class InProcessRuntime implements InferenceRuntime {
  readonly #sessions = new Set<InProcessSession>();
  #closed: Promise<void> | undefined;

  async load(modelPath: string, options?: Partial<SessionOptions>): Promise<InferenceSession> {
    if (this.#closed) throw runtimeClosedError(modelPath);
    const ortOptions = toOrtSessionOptions(resolveSessionOptions(options));
    let ortSession: OrtInferenceSession;
    try {
      ortSession = await OrtInferenceSession.create(modelPath, ortOptions);
    } catch (error) {
      throw new ModelLoadError(`onnxruntime could not load ${modelPath}: ${messageOf(error)}`, { cause: error });
    }
    let signature: ModelSignature;
    try {
      signature = signatureOf(ortSession);
    } catch (error) {
      await ortSession.release();
      throw new ModelLoadError(`${modelPath} is not servable: ${messageOf(error)}`, { cause: error });
    }
    if (this.#closed) {
      // close() ran while onnxruntime was loading; do not leak the session.
      await ortSession.release();
      throw runtimeClosedError(modelPath);
    }
    const session = new InProcessSession(modelPath, ortSession, signature, () => this.#sessions.delete(session));
    this.#sessions.add(session);
    return session;
  }

  /** Counters for tests and metrics. */
  stats(): { sessions: number } {
    return { sessions: this.#sessions.size };
  }

  /** Loads run on the caller's thread, so there is never one left behind: resolves true. */
  close(): Promise<boolean> {
    this.#closed ??= Promise.all([...this.#sessions].map((session) => session.closeWithRuntime())).then(() => undefined);
    return this.#closed.then(() => true);
  }
}

class InProcessSession implements InferenceSession {
  readonly signature: ModelSignature;
  readonly #modelPath: string;
  readonly #ort: OrtInferenceSession;
  readonly #onReleased: () => void;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #released: Promise<void> | undefined;
  /** Released by the runtime's close(), not by its owner: runs get SHUTTING_DOWN, not a bug report. */
  #runtimeClosed = false;

  constructor(modelPath: string, ort: OrtInferenceSession, signature: ModelSignature, onReleased: () => void) {
    this.#modelPath = modelPath;
    this.#ort = ort;
    this.signature = signature;
    this.#onReleased = onReleased;
  }

  async run(inputs: Readonly<Record<string, Tensor>>, outputNames?: readonly string[], options?: RunOptions): Promise<Record<string, Tensor>> {
    if (this.#released) throw this.#runtimeClosed ? runtimeClosedError(this.#modelPath) : sessionReleasedError(this.#modelPath);
    this.#inFlight++;
    try {
      const feeds = toOrtFeeds(inputs);
      const results = outputNames ? await this.#ort.run(feeds, outputNames) : await this.#ort.run(feeds);
      options?.recycleInputs?.(inputs);
      return fromOrtResults(results as Record<string, OrtTensor>);
    } catch (error) {
      throw inferenceFailedError(this.#modelPath, messageOf(error), error);
    } finally {
      if (--this.#inFlight === 0) this.#idle?.();
    }
  }

  closeWithRuntime(): Promise<void> {
    if (!this.#released) this.#runtimeClosed = true;
    return this.release();
  }

  release(): Promise<void> {
    this.#released ??= (async () => {
      // Freeing native memory under a run that is still queued would crash it; wait for it.
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      this.#onReleased();
      await this.#ort.release();
    })();
    return this.#released;
  }
}
