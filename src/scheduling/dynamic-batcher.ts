/**
 * The dynamic batcher: one bounded queue per model version, drained into batches whenever one of
 * the version's instances is free. Greedy by default, as Triton: a free instance takes everything
 * compatible that is queued, up to max_batch_size rows, so light load pays no wait and heavy load
 * forms large batches. A request's deadline and its client are checked before it joins a batch;
 * an expired or abandoned request is answered (504) or dropped and never executed. The session is
 * taken from the registry when the batch executes, so queued requests always run on whatever
 * version is active then, and a swap never loses one. When onnxruntime rejects a merged batch, its
 * requests are rerun one at a time on the same session, so one bad request fails alone (a dead
 * worker, a lost session or a shutdown fails the batch as it is: rerunning would not help).
 */
import { performance } from 'node:perf_hooks';
import { SwitchyardError, isSwitchyardError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { BatchingPolicy } from './batching-policy.js';
import { isOnnxruntimeFailure } from '../runtime/runtime-errors.js';
import { assertMayStart, type SessionLease, type SessionLeaseProvider } from './session-lease.js';
import type { InferenceRequest, InferenceResult, InferenceScheduler } from './inference-scheduler.js';
import { BufferPool } from './buffer-pool.js';
import { batchKey, mergeInputs, rowsOf, sliceOutputs } from './tensor-batch.js';
import { emptyCounters, type VersionCounters } from './version-counters.js';
import { LatencyHistogram, type LatencySnapshot } from './latency-histogram.js';
import { timerDelayMs } from './timer-delay.js';

export interface DynamicBatcherOptions {
  readonly leases: SessionLeaseProvider;
  /** The current policy of a version; asked again for every batch, so config changes apply at once. */
  readonly policyFor: (model: string, version: number) => BatchingPolicy;
  /** Told about every batch and queue wait (the metrics). Default: none. */
  readonly observer?: BatchObserver | undefined;
  /**
   * News of versions going away (the registry, structurally): an unloaded version's queue and
   * counters are dropped once nothing of it is queued or running. Default: kept forever.
   */
  readonly versions?: VersionEvents | undefined;
}

/** The registry's events the batcher follows to forget versions that are gone. */
export interface VersionEvents {
  on(event: 'unloaded', listener: (e: { name: string; version: number }) => void): unknown;
  on(event: 'loaded', listener: (e: { name: string; version: number }) => void): unknown;
}

/**
 * Watches the batcher's work as it happens (per batch, not per poll), so histograms see every
 * execution. Called on the hot path: implementations must be cheap and must not throw.
 */
export interface BatchObserver {
  /** A batch ran on a session: its rows, how many requests they came from, and the run's time. */
  executed(model: string, version: number, rows: number, requests: number, computeMs: number): void;
  /** A request left its queue for a batch after waiting `waitedMs`. */
  queued?(model: string, version: number, waitedMs: number): void;
  /** onnxruntime rejected a merged batch of `requests` requests; each is rerun alone. */
  split?(model: string, version: number, requests: number): void;
}

interface Pending {
  readonly request: InferenceRequest;
  readonly rows: number;
  /** undefined: runs alone (not batchable, or batching off). */
  readonly key: string | undefined;
  readonly enqueuedAt: number;
  readonly deadline: number | undefined;
  readonly resolve: (result: InferenceResult) => void;
  readonly reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  stopWatchingClient: (() => void) | undefined;
  settled: boolean;
  /** Joined a batch that executed: its answer counts in the latency histogram. */
  ran: boolean;
}

class VersionQueue {
  readonly items: Pending[] = [];
  running = 0;
  delayTimer: NodeJS.Timeout | undefined;
  /** The version went away: the queue is dropped as soon as it is idle. */
  retired = false;
  readonly counters = emptyCounters();
  /** Queue-to-answer latency of requests that ran, cumulative (rollout checks diff two snapshots). */
  readonly latency = new LatencyHistogram();
  constructor(
    readonly model: string,
    readonly version: number,
  ) {}
}

export class DynamicBatcher implements InferenceScheduler {
  readonly #leases: SessionLeaseProvider;
  readonly #policyFor: (model: string, version: number) => BatchingPolicy;
  readonly #observer: BatchObserver | undefined;
  readonly #queues = new Map<string, VersionQueue>();
  /** Merge buffers, handed back by the runtime after each batch and reused. */
  readonly pool = new BufferPool();
  readonly #recycle = (inputs: Readonly<Record<string, Tensor>>): void => {
    for (const name in inputs) this.pool.give(inputs[name]!.datatype, inputs[name]!.data);
  };
  #busy = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: DynamicBatcherOptions) {
    this.#leases = options.leases;
    this.#policyFor = options.policyFor;
    this.#observer = options.observer;
    options.versions?.on('unloaded', ({ name, version }) => this.forget(name, version));
    options.versions?.on('loaded', ({ name, version }) => {
      const queue = this.#queues.get(queueId(name, version));
      if (queue) queue.retired = false;
    });
  }

  /**
   * Drops a version's queue and counters: at once when nothing of it is queued or running, else
   * as soon as the last of it has been answered. Requests arriving meanwhile are still served.
   */
  forget(model: string, version: number): void {
    const queue = this.#queues.get(queueId(model, version));
    if (!queue) return;
    queue.retired = true;
    this.#pruneIfIdle(queue);
  }

  /** Versions the batcher holds a queue and counters for (to see that pruning works). */
  get versionCount(): number {
    return this.#queues.size;
  }

  infer(request: InferenceRequest): Promise<InferenceResult> {
    const now = performance.now();
    assertMayStart(request);
    const queue = this.#queue(request.model, request.version);
    const policy = this.#policyFor(request.model, request.version);
    if (queue.items.length >= policy.maxQueueSize) {
      queue.counters.rejectedQueueFull += 1;
      throw new SwitchyardError(
        'QUEUE_FULL',
        `model '${request.model}' version ${request.version} has ${queue.items.length} requests queued (max_queue_size ${policy.maxQueueSize})`,
        { retryAfterSeconds: 1, details: { queued: queue.items.length, maxQueueSize: policy.maxQueueSize } },
      );
    }
    const rows = rowsOf(request.inputs);
    const batchable = policy.maxBatchSize > 0 && rows !== undefined && rows > 0 && rows <= policy.maxBatchSize;
    // Deadlines are epoch ms at the edges; the queue works in monotonic time.
    const deadline =
      request.deadline !== undefined
        ? now + (request.deadline - Date.now())
        : policy.defaultTimeoutMs !== undefined
          ? now + policy.defaultTimeoutMs
          : undefined;

    // Accepted from here on: an unload of the version now waits for this request's answer.
    const answered = this.#leases.admit?.(request.model, request.version);
    return new Promise<InferenceResult>((resolve, reject) => {
      const pending: Pending = {
        request,
        rows: rows ?? 1,
        key: batchable ? batchKey(request.inputs) : undefined,
        enqueuedAt: now,
        deadline,
        resolve: (result) => {
          queue.latency.record(performance.now() - now, true);
          this.#answered();
          answered?.();
          resolve(result);
        },
        reject: (error) => {
          if (pending.ran) queue.latency.record(performance.now() - now, false);
          this.#answered();
          answered?.();
          reject(error);
        },
        timer: undefined,
        stopWatchingClient: undefined,
        settled: false,
        ran: false,
      };
      queue.items.push(pending);
      queue.counters.requests += 1;
      this.#busy += 1;
      if (deadline !== undefined) {
        pending.timer = setTimeout(() => this.#drop(queue, pending, 'deadline'), timerDelayMs(deadline - now));
      }
      if (request.client?.onGone) pending.stopWatchingClient = request.client.onGone(() => this.#drop(queue, pending, 'cancelled'));
      this.#pump(queue);
    });
  }

  /** Counters of one version; undefined before its first request. */
  counters(model: string, version: number): VersionCounters | undefined {
    const queue = this.#queues.get(queueId(model, version));
    return queue && { ...queue.counters };
  }

  /** The version's cumulative latency histogram of requests that ran; undefined before its first request. */
  latency(model: string, version: number): LatencySnapshot | undefined {
    return this.#queues.get(queueId(model, version))?.latency.snapshot();
  }

  /** Requests queued (not yet running) for a version. */
  queued(model: string, version: number): number {
    return this.#queues.get(queueId(model, version))?.items.length ?? 0;
  }

  drain(): Promise<void> {
    if (this.#busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #queue(model: string, version: number): VersionQueue {
    const id = queueId(model, version);
    let queue = this.#queues.get(id);
    if (!queue) {
      queue = new VersionQueue(model, version);
      this.#queues.set(id, queue);
    }
    return queue;
  }

  #pump(queue: VersionQueue): void {
    let policy = this.#policyFor(queue.model, queue.version);
    while (queue.running < policy.instances && queue.items.length > 0) {
      if (policy.maxQueueDelayMs > 0 && policy.maxBatchSize > 0 && this.#shouldWait(queue, policy)) return;
      const batch = this.#takeBatch(queue, policy);
      if (batch.length === 0) continue;
      queue.running += 1;
      void this.#execute(queue, batch).finally(() => {
        queue.running -= 1;
        this.#pump(queue);
      });
      policy = this.#policyFor(queue.model, queue.version);
    }
    this.#pruneIfIdle(queue);
  }

  #pruneIfIdle(queue: VersionQueue): void {
    if (!queue.retired || queue.items.length > 0 || queue.running > 0) return;
    clearTimeout(queue.delayTimer);
    queue.delayTimer = undefined;
    const id = queueId(queue.model, queue.version);
    if (this.#queues.get(id) === queue) this.#queues.delete(id);
  }

  /** With a queue delay: wait while the head's batch is below target and the head is young enough. */
  #shouldWait(queue: VersionQueue, policy: BatchingPolicy): boolean {
    const head = queue.items[0]!;
    if (head.key === undefined) return false;
    const target = policy.preferredBatchSizes.at(-1) ?? policy.maxBatchSize;
    let rows = 0;
    for (const item of queue.items) if (item.key === head.key) rows += item.rows;
    const waited = performance.now() - head.enqueuedAt;
    if (rows >= target || waited >= policy.maxQueueDelayMs) return false;
    if (!queue.delayTimer) {
      queue.delayTimer = setTimeout(() => {
        queue.delayTimer = undefined;
        this.#pump(queue);
      }, Math.max(0, policy.maxQueueDelayMs - waited));
    }
    return true;
  }

  /** Removes and returns the next batch: the head plus every later request with its key that fits. */
  #takeBatch(queue: VersionQueue, policy: BatchingPolicy): Pending[] {
    const items = queue.items;
    const head = items.shift()!;
    if (!this.#mayStart(queue, head)) return [];
    if (head.key === undefined) return [head];

    const batch = [head];
    let rows = head.rows;
    const kept: Pending[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (rows < policy.maxBatchSize && item.key === head.key && rows + item.rows <= policy.maxBatchSize) {
        if (this.#mayStart(queue, item)) {
          batch.push(item);
          rows += item.rows;
        }
      } else {
        kept.push(item);
      }
    }
    if (policy.preferredBatchSizes.length > 0 && batch.length > 1) {
      // Cut at the largest preferred size that a prefix of the batch fills exactly.
      let prefixRows = 0;
      let cut = batch.length;
      for (let i = 0; i < batch.length; i++) {
        prefixRows += batch[i]!.rows;
        if (policy.preferredBatchSizes.includes(prefixRows)) cut = i + 1;
      }
      if (cut < batch.length) kept.unshift(...batch.splice(cut));
    }
    items.length = 0;
    for (const item of kept) items.push(item);
    return batch;
  }

  /** A request about to join a batch: false (and answered) if its client left or its deadline passed. */
  #mayStart(queue: VersionQueue, pending: Pending): boolean {
    if (pending.request.client?.gone) {
      this.#settle(pending);
      queue.counters.cancelled += 1;
      pending.reject(new SwitchyardError('REQUEST_CANCELLED', 'the client closed the connection before the request ran'));
      return false;
    }
    if (pending.deadline !== undefined && performance.now() >= pending.deadline) {
      this.#settle(pending);
      queue.counters.rejectedDeadline += 1;
      pending.reject(deadlineExceeded());
      return false;
    }
    return true;
  }

  /** A queued request leaves before running: its deadline passed or its client went away. */
  #drop(queue: VersionQueue, pending: Pending, why: 'deadline' | 'cancelled'): void {
    if (pending.settled) return;
    const index = queue.items.indexOf(pending);
    if (index < 0) return; // already in a batch: it runs
    queue.items.splice(index, 1);
    this.#settle(pending);
    this.#pruneIfIdle(queue);
    if (why === 'deadline') {
      queue.counters.rejectedDeadline += 1;
      pending.reject(deadlineExceeded());
    } else {
      queue.counters.cancelled += 1;
      pending.reject(new SwitchyardError('REQUEST_CANCELLED', 'the client closed the connection before the request ran'));
    }
  }

  async #execute(queue: VersionQueue, batch: Pending[]): Promise<void> {
    const started = performance.now();
    for (const pending of batch) {
      queue.counters.queueTimeMs += started - pending.enqueuedAt;
      this.#observer?.queued?.(queue.model, queue.version, started - pending.enqueuedAt);
      this.#settle(pending);
      pending.ran = true;
    }
    let lease;
    try {
      lease = this.#leases.acquire(queue.model, queue.version);
    } catch (error) {
      queue.counters.failures += batch.length;
      // A version the registry no longer has: nothing more of it will run here.
      if (isSwitchyardError(error) && (error.code === 'VERSION_NOT_FOUND' || error.code === 'MODEL_NOT_FOUND')) queue.retired = true;
      for (const pending of batch) pending.reject(error);
      return;
    }
    try {
      if (batch.length === 1) {
        await this.#runAlone(queue, lease, batch[0]!);
        return;
      }
      try {
        this.#answerBatch(queue, lease, batch, await this.#runMerged(queue, lease, batch));
      } catch (error) {
        if (!isOnnxruntimeFailure(error)) {
          queue.counters.failures += batch.length;
          for (const pending of batch) pending.reject(asInferenceFailure(error));
          return;
        }
        // onnxruntime refused the merged inputs: one of the requests is bad. Rerun each alone, one
        // after another on the same lease, so only the bad one fails, with its own error.
        queue.counters.splits += 1;
        this.#observer?.split?.(queue.model, queue.version, batch.length);
        for (const pending of batch) await this.#runAlone(queue, lease, pending);
      }
    } finally {
      lease.release();
    }
  }

  /** Runs the batch as one merged execution; resolves with the batch's outputs (not yet sliced). */
  async #runMerged(queue: VersionQueue, lease: SessionLease, batch: readonly Pending[]): Promise<MergedRun> {
    const started = performance.now();
    const requested = outputNamesOf(batch);
    const totalRows = batch.reduce((sum, p) => sum + p.rows, 0);
    const inputs = mergeInputs(batch.map((p) => p.request.inputs), totalRows, this.pool);
    // Merged inputs are ours to reuse: the runtime hands their buffers back.
    const outputs = await lease.session.run(inputs, requested, { recycleInputs: this.#recycle });
    this.#executed(queue, totalRows, batch.length, started);
    return { outputs, names: requested ?? Object.keys(outputs), totalRows };
  }

  /** Hands each request of a merged batch its rows; a batch whose outputs can not be split fails whole. */
  #answerBatch(queue: VersionQueue, lease: SessionLease, batch: readonly Pending[], run: MergedRun): void {
    let results: Array<Record<string, Tensor>>;
    try {
      let firstRow = 0;
      results = batch.map((pending) => {
        const sliced = sliceOutputs(run.outputs, pending.request.outputs ?? run.names, run.totalRows, firstRow, pending.rows);
        firstRow += pending.rows;
        return sliced;
      });
    } catch (error) {
      queue.counters.failures += batch.length;
      for (const pending of batch) pending.reject(asInferenceFailure(error));
      return;
    }
    queue.counters.successes += batch.length;
    batch.forEach((pending, i) => pending.resolve({ model: queue.model, version: lease.version, outputs: results[i]! }));
  }

  /** Runs one request on its own inputs (they belong to its caller: handed back to it, never pooled here). */
  async #runAlone(queue: VersionQueue, lease: SessionLease, pending: Pending): Promise<void> {
    const started = performance.now();
    const recycle = pending.request.recycleInputs;
    try {
      const outputs = await lease.session.run(pending.request.inputs, outputNamesOf([pending]), recycle ? { recycleInputs: recycle } : undefined);
      this.#executed(queue, pending.rows, 1, started);
      queue.counters.successes += 1;
      pending.resolve({ model: queue.model, version: lease.version, outputs: pick(outputs, pending.request.outputs) });
    } catch (error) {
      queue.counters.failures += 1;
      pending.reject(asInferenceFailure(error));
    }
  }

  #executed(queue: VersionQueue, rows: number, requests: number, started: number): void {
    const finished = performance.now();
    queue.counters.computeTimeMs += finished - started;
    queue.counters.executions += 1;
    queue.counters.inferredRows += rows;
    queue.counters.lastInferenceAt = Date.now();
    this.#observer?.executed(queue.model, queue.version, rows, requests, finished - started);
  }

  /** The request leaves the queue's bookkeeping: timers and listeners off, idle waiters woken. */
  #settle(pending: Pending): void {
    if (pending.settled) return;
    pending.settled = true;
    if (pending.timer) clearTimeout(pending.timer);
    pending.stopWatchingClient?.();
  }

  /** Every request is answered exactly once; drain() waits for the count of unanswered to reach 0. */
  #answered(): void {
    if (--this.#busy === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}

function queueId(model: string, version: number): string {
  return `${model}\u0000${version}`;
}

interface MergedRun {
  readonly outputs: Record<string, Tensor>;
  /** The outputs a request without its own list gets. */
  readonly names: readonly string[];
  readonly totalRows: number;
}

/** A run's failure as the catalog error its requests get. */
function asInferenceFailure(error: unknown): SwitchyardError {
  return isSwitchyardError(error)
    ? error
    : new SwitchyardError('INFERENCE_FAILED', `inference failed: ${(error as Error).message}`, { cause: error });
}

function deadlineExceeded(): SwitchyardError {
  return new SwitchyardError('DEADLINE_EXCEEDED', 'the request deadline passed before it could run');
}

/** The union of the outputs the batch's requests asked for; undefined = every output. */
function outputNamesOf(batch: readonly Pending[]): readonly string[] | undefined {
  if (batch.some((p) => p.request.outputs === undefined)) return undefined;
  const names = new Set<string>();
  for (const pending of batch) for (const name of pending.request.outputs!) names.add(name);
  return [...names];
}

function pick(outputs: Record<string, Tensor>, names: readonly string[] | undefined): Record<string, Tensor> {
  if (!names) return outputs;
  const picked: Record<string, Tensor> = {};
  for (const name of names) if (outputs[name]) picked[name] = outputs[name];
  return picked;
}

