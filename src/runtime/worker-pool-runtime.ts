/**
 * Sessions in a pool of worker threads. onnxruntime-node runs session.run synchronously on the
 * thread that calls it, so on the main thread one inference would stall every HTTP request; here
 * each session lives in one worker and the main thread only posts messages. Tensor data crosses
 * threads by transfer, not copy.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelLoadError } from '../errors.js';
import type { ModelSignature, Tensor } from '../tensor.js';
import { settlesWithin } from '../settles-within.js';
import type { InferenceRuntime, InferenceSession, RunOptions, RuntimeCloseOptions, SessionOptions } from './inference-runtime.js';
import { resolveSessionOptions } from './ort-session-options.js';
import {
  inferenceFailedError,
  messageOf,
  runtimeClosedError,
  sessionLostError,
  sessionReleasedError,
  workerExitedError,
} from './runtime-errors.js';
import { ownedTensor, transferablesOf, type WorkerReply, type WorkerRequest } from './session-worker-protocol.js';

export interface SessionLostEvent {
  /** The session that died (one instance, when it belonged to a group: see sessionInstances). */
  readonly session: InferenceSession;
  readonly modelPath: string;
  /** Why its worker exited: the uncaught error's message or the exit code. */
  readonly reason: string;
}

export interface WorkerPoolRuntimeOptions {
  /**
   * Most worker threads; each holds whole sessions. Threads start as loads need them and a thread
   * that dies is replaced by the next load. Default os.availableParallelism().
   */
  readonly workers?: number;
  /**
   * Nice value (0..19) of the worker threads on Linux. Inference yields the CPU to the thread that
   * serves HTTP, so health checks and light requests stay fast while a model saturates every core.
   * Default 10; 0 leaves them at the process's priority.
   */
  readonly threadNice?: number;
  /** Told once per session lost to a worker that exited unexpectedly, so its owner can reload it. Default: nobody. */
  readonly onSessionLost?: (event: SessionLostEvent) => void;
}

export interface WorkerPoolStats {
  /** Live worker threads. */
  readonly workers: number;
  /** Loaded sessions, not yet released or lost. */
  readonly sessions: number;
  /** Sessions held by each live worker, in start order: shows how loads were placed. */
  readonly sessionsPerWorker: readonly number[];
  /** Runs handed to a worker since start. */
  readonly runs: number;
  /** Runs handed to a worker and not yet answered. */
  readonly inFlight: number;
  readonly sessionsReleased: number;
  readonly sessionsLost: number;
  /** Workers that exited without close() asking them to. */
  readonly workerExits: number;
}

interface Pending {
  settle(reply: WorkerReply): void;
  /** The worker is gone before it answered: `reason` for a crash, null when close() stopped it. */
  exited(reason: string | null): void;
}

interface PoolCounters {
  runs: number;
  sessionsReleased: number;
  sessionsLost: number;
  workerExits: number;
}

/**
 * Compiled, the worker is the sibling session-worker.js. Under vitest or tsx this module is .ts, and
 * Node 20 ignores `--import tsx` in a Worker's execArgv (nodejs/node#47747), so the worker starts
 * from a small ESM bootstrap that registers tsx itself and then imports session-worker.ts.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./session-worker.js', import.meta.url);
  // The import condition matters: tsx's CommonJS build of this API cannot register ESM hooks.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const worker = new URL('./session-worker.ts', import.meta.url).href;
  const bootstrap = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(worker)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}

class PoolWorker {
  readonly thread: Worker;
  readonly sessions = new Set<PooledSession>();
  /** Callers waiting for an answer, by request id. */
  readonly pending = new Map<number, Pending>();
  /** close() terminated it: the exit is expected, nothing is lost. */
  terminating = false;
  /**
   * What the thread was given and has not answered yet, by request id: what it is still doing,
   * even once close() has answered its callers. A thread is only terminated when this is empty.
   */
  readonly #inThread = new Map<number, WorkerRequest['kind']>();
  #answerWaiters: Array<{ readonly loadsOnly: boolean; readonly wake: () => void }> = [];
  #nextId = 1;
  #lastError: string | undefined;

  constructor(entry: URL, threadNice: number, onExit: (worker: PoolWorker, reason: string) => void) {
    this.thread = new Worker(entry, { workerData: { threadNice } });
    // Idle workers must not keep a process alive; the thread is ref'd while it holds a request.
    this.thread.unref();
    this.thread.on('message', (reply: WorkerReply) => {
      this.#answered(reply.id);
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      pending.settle(reply);
    });
    this.thread.on('error', (error) => (this.#lastError = messageOf(error)));
    this.thread.on('exit', (code) => {
      // Nothing more will be answered.
      for (const id of [...this.#inThread.keys()]) this.#answered(id);
      onExit(this, this.#lastError ?? `exit code ${code}`);
    });
  }

  nextId(): number {
    return this.#nextId++;
  }

  request(message: WorkerRequest & { readonly id: number }, transfer: ArrayBuffer[], pending: Pending): void {
    this.pending.set(message.id, pending);
    try {
      this.thread.postMessage(message, transfer);
    } catch {
      // An untransferable buffer (marked so by its owner): a copy is slower but still correct.
      try {
        this.thread.postMessage(message);
      } catch (error) {
        this.pending.delete(message.id);
        pending.settle({ kind: 'failed', id: message.id, message: `cannot send the request to the worker: ${messageOf(error)}` });
        return;
      }
    }
    if (this.#inThread.size === 0) this.thread.ref();
    this.#inThread.set(message.id, message.kind);
  }

  /** Settles once the thread has answered everything it was given (`loadsOnly`: every load), or died. */
  whenAnswered(loadsOnly: boolean): Promise<void> {
    if (this.#idle(loadsOnly)) return Promise.resolve();
    return new Promise((wake) => this.#answerWaiters.push({ loadsOnly, wake }));
  }

  /** Answers every caller at once (the thread's own answers, if any, are then ignored). */
  abandonPending(reason: string | null): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) entry.exited(reason);
  }

  #idle(loadsOnly: boolean): boolean {
    if (!loadsOnly) return this.#inThread.size === 0;
    for (const kind of this.#inThread.values()) if (kind === 'load') return false;
    return true;
  }

  #answered(id: number): void {
    if (!this.#inThread.delete(id)) return;
    if (this.#inThread.size === 0) this.thread.unref();
    const waiting = this.#answerWaiters;
    this.#answerWaiters = [];
    for (const waiter of waiting) {
      if (this.#idle(waiter.loadsOnly)) waiter.wake();
      else this.#answerWaiters.push(waiter);
    }
  }
}

export class WorkerPoolRuntime implements InferenceRuntime {
  readonly #maxWorkers: number;
  readonly #onSessionLost: ((event: SessionLostEvent) => void) | undefined;
  readonly #threadNice: number;
  readonly #entry = workerEntry();
  readonly #workers: PoolWorker[] = [];
  readonly #counters: PoolCounters = { runs: 0, sessionsReleased: 0, sessionsLost: 0, workerExits: 0 };
  #closed: Promise<boolean> | undefined;

  constructor(options: WorkerPoolRuntimeOptions = {}) {
    const workers = options.workers ?? availableParallelism();
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be an integer >= 1, got ${workers}`);
    this.#maxWorkers = workers;
    this.#onSessionLost = options.onSessionLost;
    this.#threadNice = options.threadNice ?? 10;
    if (!Number.isInteger(this.#threadNice) || this.#threadNice < 0 || this.#threadNice > 19) {
      throw new RangeError(`threadNice must be an integer from 0 to 19, got ${this.#threadNice}`);
    }
  }

  async load(modelPath: string, options?: Partial<SessionOptions>): Promise<InferenceSession> {
    if (this.#closed) throw runtimeClosedError(modelPath);
    const resolved = resolveSessionOptions(options);
    const worker = this.#placeSession();
    const session = new PooledSession(worker, worker.nextId(), modelPath, this.#counters);
    // Counted before the worker answers so that concurrent loads spread across workers.
    worker.sessions.add(session);
    try {
      const signature = await new Promise<ModelSignature>((resolve, reject) => {
        const id = worker.nextId();
        worker.request({ kind: 'load', id, sessionId: session.sessionId, modelPath, options: resolved }, [], {
          settle: (reply) =>
            reply.kind === 'loaded'
              ? resolve(reply.signature)
              : reject(new ModelLoadError(`onnxruntime could not load ${modelPath}: ${reply.kind === 'failed' ? reply.message : reply.kind}`)),
          exited: (reason) =>
            reject(reason === null ? runtimeClosedError(modelPath) : new ModelLoadError(`the worker thread loading ${modelPath} exited (${reason})`)),
        });
      });
      session.ready(signature);
      return session;
    } catch (error) {
      worker.sessions.delete(session);
      throw error;
    }
  }

  stats(): WorkerPoolStats {
    let sessions = 0;
    let inFlight = 0;
    for (const worker of this.#workers) {
      sessions += worker.sessions.size;
      inFlight += worker.pending.size;
    }
    const sessionsPerWorker = this.#workers.map((worker) => worker.sessions.size);
    return { workers: this.#workers.length, sessions, sessionsPerWorker, inFlight, ...this.#counters };
  }

  /**
   * Test hook: the worker holding `session` (one instance, not a group) dies of an uncaught
   * exception, as from a native fault, so tests can watch in-flight runs fail, the session
   * reported lost and the worker replaced. At once, or with `onNextRun` when the worker receives
   * its next run (of any of its sessions), which is then in flight as the thread dies.
   */
  simulateWorkerCrash(session: InferenceSession, options: { readonly onNextRun?: boolean } = {}): void {
    if (!(session instanceof PooledSession)) throw new TypeError('not a session of a WorkerPoolRuntime');
    session.worker.thread.postMessage({ kind: 'crash', message: 'simulated worker crash', onNextRun: options.onNextRun === true } satisfies WorkerRequest);
  }

  /** Which live worker (an index into stats().sessionsPerWorker) holds `session`; undefined once it is gone. */
  workerIndexOf(session: InferenceSession): number | undefined {
    if (!(session instanceof PooledSession)) return undefined;
    const index = this.#workers.indexOf(session.worker);
    return index < 0 || !session.worker.sessions.has(session) ? undefined : index;
  }

  /**
   * Stops every worker. Whatever is in flight is answered at once (runs SHUTTING_DOWN), but a
   * thread is terminated only once it has answered everything it was given: terminating one while
   * onnxruntime works on it aborts the whole process when onnxruntime returns (onnxruntime-node
   * 1.30: "terminate called after throwing an instance of 'Napi::Error'"). Runs end, so they are
   * waited for; a load may not (a huge graph, a file on a hung mount: stuck in a system call), so
   * loads get `loadWaitMs`: a thread whose load still runs then is left behind (stopped once it
   * answers, if ever) and close() resolves false. `force` terminates every thread at once instead
   * (the second signal: the process exits next). Idempotent (the first call's options count).
   */
  close(options: RuntimeCloseOptions = {}): Promise<boolean> {
    this.#closed ??= (async () => {
      const workers = this.#workers.splice(0);
      for (const worker of workers) {
        worker.terminating = true;
        for (const session of worker.sessions) session.closed();
        worker.sessions.clear();
      }
      if (options.force) {
        // Callers are answered as each thread exits.
        await Promise.all(workers.map((worker) => worker.thread.terminate()));
        return true;
      }
      for (const worker of workers) worker.abandonPending(null);
      const { loadWaitMs } = options;
      const stopped = await Promise.all(
        workers.map(async (worker) => {
          if (loadWaitMs !== undefined && !(await settlesWithin(worker.whenAnswered(true), loadWaitMs))) {
            void worker.whenAnswered(false).then(() => worker.thread.terminate());
            return false;
          }
          await worker.whenAnswered(false);
          await worker.thread.terminate();
          return true;
        }),
      );
      return stopped.every(Boolean);
    })();
    return this.#closed;
  }

  /** Fewest sessions first, then least outstanding work; a new thread while the pool may still grow. */
  #placeSession(): PoolWorker {
    if (this.#workers.length < this.#maxWorkers) {
      const worker = new PoolWorker(this.#entry, this.#threadNice, (exited, reason) => this.#workerExited(exited, reason));
      this.#workers.push(worker);
      return worker;
    }
    let best = this.#workers[0]!;
    for (const worker of this.#workers) {
      const fewer = worker.sessions.size < best.sessions.size;
      const asFewButIdler = worker.sessions.size === best.sessions.size && worker.pending.size < best.pending.size;
      if (fewer || asFewButIdler) best = worker;
    }
    return best;
  }

  #workerExited(worker: PoolWorker, reason: string): void {
    if (worker.terminating) {
      worker.abandonPending(null);
      return;
    }
    // Out of the pool first: the next load starts a fresh thread in its place.
    const index = this.#workers.indexOf(worker);
    if (index >= 0) this.#workers.splice(index, 1);
    this.#counters.workerExits++;
    worker.abandonPending(reason);
    const lost = [...worker.sessions].filter((session) => session.lost(reason));
    worker.sessions.clear();
    for (const session of lost) {
      this.#counters.sessionsLost++;
      try {
        this.#onSessionLost?.({ session, modelPath: session.modelPath, reason });
      } catch {
        // One listener's fault must not keep the other sessions from being reported.
      }
    }
  }
}

type SessionState =
  | { readonly kind: 'loading' }
  | { readonly kind: 'ready' }
  | { readonly kind: 'released' }
  | { readonly kind: 'lost'; readonly reason: string }
  | { readonly kind: 'closed' };

class PooledSession implements InferenceSession {
  readonly worker: PoolWorker;
  readonly sessionId: number;
  readonly modelPath: string;
  readonly #counters: PoolCounters;
  #signature: ModelSignature | undefined;
  #state: SessionState = { kind: 'loading' };
  #release: Promise<void> | undefined;

  constructor(worker: PoolWorker, sessionId: number, modelPath: string, counters: PoolCounters) {
    this.worker = worker;
    this.sessionId = sessionId;
    this.modelPath = modelPath;
    this.#counters = counters;
  }

  get signature(): ModelSignature {
    // load() hands the session out only once the worker sent its signature.
    if (!this.#signature) throw new Error(`session for ${this.modelPath} is still loading`);
    return this.#signature;
  }

  get lostReason(): string | undefined {
    return this.#state.kind === 'lost' ? this.#state.reason : undefined;
  }

  ready(signature: ModelSignature): void {
    this.#signature = signature;
    if (this.#state.kind === 'loading') this.#state = { kind: 'ready' };
  }

  /** Marks it lost; true if it was serving (a session still loading fails its load instead). */
  lost(reason: string): boolean {
    const wasReady = this.#state.kind === 'ready';
    if (wasReady || this.#state.kind === 'loading') this.#state = { kind: 'lost', reason };
    return wasReady;
  }

  closed(): void {
    if (this.#state.kind === 'ready' || this.#state.kind === 'loading') this.#state = { kind: 'closed' };
  }

  run(inputs: Readonly<Record<string, Tensor>>, outputNames?: readonly string[], options?: RunOptions): Promise<Record<string, Tensor>> {
    const state = this.#state;
    if (state.kind !== 'ready') return Promise.reject(this.#unavailable(state));
    const modelPath = this.modelPath;
    const wire: Record<string, Tensor> = {};
    try {
      for (const name of Object.keys(inputs)) wire[name] = ownedTensor(inputs[name]!);
    } catch (error) {
      return Promise.reject(inferenceFailedError(modelPath, `input is not a tensor: ${messageOf(error)}`, error));
    }
    this.#counters.runs++;
    return new Promise((resolve, reject) => {
      const id = this.worker.nextId();
      const recycle = options?.recycleInputs;
      const message = { kind: 'run', id, sessionId: this.sessionId, inputs: wire, outputNames, ...(recycle ? { returnInputs: true } : {}) } as const;
      this.worker.request(message, transferablesOf(Object.values(wire)), {
        settle: (reply) => {
          if (reply.kind !== 'ran') {
            reject(inferenceFailedError(modelPath, reply.kind === 'failed' ? reply.message : `unexpected reply '${reply.kind}'`));
            return;
          }
          if (recycle && reply.inputs) recycle(reply.inputs);
          resolve(reply.outputs);
        },
        exited: (reason) => reject(reason === null ? runtimeClosedError(modelPath) : workerExitedError(modelPath, reason)),
      });
    });
  }

  release(): Promise<void> {
    this.#release ??= this.#releaseOnce();
    return this.#release;
  }

  async #releaseOnce(): Promise<void> {
    if (this.#state.kind !== 'ready') return;
    this.#state = { kind: 'released' };
    this.worker.sessions.delete(this);
    // Whatever the worker answers, or if it dies meanwhile, the session is gone from our side.
    await new Promise<void>((resolve) => {
      const id = this.worker.nextId();
      this.worker.request({ kind: 'release', id, sessionId: this.sessionId }, [], { settle: () => resolve(), exited: () => resolve() });
    });
    this.#counters.sessionsReleased++;
  }

  #unavailable(state: SessionState): Error {
    switch (state.kind) {
      case 'lost':
        return sessionLostError(this.modelPath, state.reason);
      case 'closed':
        return runtimeClosedError(this.modelPath);
      case 'released':
        return sessionReleasedError(this.modelPath);
      default:
        return new Error(`session for ${this.modelPath} is still loading`);
    }
  }
}
