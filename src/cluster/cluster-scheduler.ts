/**
 * The scheduler the HTTP routes see once the gateway is one of several places that serve a
 * version: each request runs on this process's batcher or is forwarded to a node or backend,
 * whichever the candidate picker chooses. A forwarded attempt that failed before any byte of the
 * answer arrived (connection refused, reset on a reused socket, or a 503 or 404 that says it did
 * not run) is tried once more on another candidate, when the retry budget allows and the deadline has
 * not passed; never after an answer started, so nothing runs twice. Every result says which node
 * served it (`x-served-by`), local ones included.
 *
 * Without members and backends it is a thin layer over the local scheduler: the same answers.
 */
import { SwitchyardError } from '../errors.js';
import type { ClientConnection, InferenceRequest, InferenceResult, InferenceScheduler } from '../scheduling/inference-scheduler.js';
import type { VersionCounters } from '../scheduling/version-counters.js';
import { CandidatePicker, type Candidate, type CandidateSet } from './candidate-picker.js';
import type { BackendTargets, ClusterMembers, RetryBudget, UpstreamFailure, UpstreamHealth } from './cluster-types.js';
import { UpstreamError, type UpstreamForwarder } from './upstream-forwarder.js';

/** How a forwarded attempt ended, as metrics count it (bounded). */
export type ForwardOutcome = 'success' | 'client-error' | 'deadline' | 'cancelled' | UpstreamFailure;

/** Metrics of the forwarding hop (GatewayMetrics implements it). */
export interface ForwardObserver {
  /** One forwarded attempt, by the target's kind and how it ended. */
  forwarded(kind: 'node' | 'backend', outcome: ForwardOutcome, seconds: number): void;
  /** One retry on another candidate, by why the first attempt failed (`not-found`: the version was gone there). */
  retried(kind: 'node' | 'backend', reason: UpstreamFailure | 'not-found'): void;
}

export interface ClusterSchedulerOptions {
  /** This process's scheduler (the dynamic batcher, or the loops' view of it). */
  readonly local: InferenceScheduler;
  /** This process's node id, sent as `x-served-by` on local answers. */
  readonly nodeId: string;
  /** True when this process has the version READY. */
  readonly localReady: (model: string, version: number) => boolean;
  /** True when this process knows the version in any state (its errors are then the answer). */
  readonly localKnown: (model: string, version: number) => boolean;
  /** Requests queued locally for the version (the batcher's queue); default none. */
  readonly localQueued?: (model: string, version: number) => number;
  readonly forwarder: UpstreamForwarder;
  readonly members?: ClusterMembers | undefined;
  readonly backends?: BackendTargets | undefined;
  /** Passive health and breakers; absent = every candidate stays usable. */
  readonly health?: UpstreamHealth | undefined;
  /** Absent = no retries. */
  readonly retryBudget?: RetryBudget | undefined;
  /** Told when an upstream refused the inputs (a cached signature may be out of date). */
  readonly onInputRefused?: (model: string, version: number) => void;
  readonly observer?: ForwardObserver | undefined;
  /** A number in [0, 1) for the picker; default Math.random. */
  readonly random?: () => number;
}

export class ClusterScheduler implements InferenceScheduler {
  readonly nodeId: string;
  readonly picker: CandidatePicker;
  readonly #options: ClusterSchedulerOptions;
  readonly #local: InferenceScheduler;
  readonly #forwarder: UpstreamForwarder;
  /** Requests running on the local scheduler through this one, by model and version. */
  readonly #localInFlight = new Map<string, number>();
  #forwarding = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: ClusterSchedulerOptions) {
    this.#options = options;
    this.nodeId = options.nodeId;
    this.#local = options.local;
    this.#forwarder = options.forwarder;
    this.picker = new CandidatePicker({
      localId: options.nodeId,
      localReady: options.localReady,
      localLoad: (model, version) => (this.#localInFlight.get(key(model, version)) ?? 0) + (options.localQueued?.(model, version) ?? 0),
      remoteInFlight: (id) => options.forwarder.inFlight(id),
      members: options.members,
      backends: options.backends,
      health: options.health,
      ...(options.random ? { random: options.random } : {}),
    });
  }

  async infer(request: InferenceRequest): Promise<InferenceResult> {
    // A single process: no load to count (its answers name this node by leaving servedBy unset).
    if (!this.picker.distributed) return this.#local.infer(request);
    const { model, version } = request;
    const set = this.picker.candidates(model, version);
    if (set.usable.length === 0) {
      // Only this process knows the version (loading, failed, draining): its own error is the answer.
      if (set.remoteCount === 0 && this.#options.localKnown(model, version)) return this.#runLocal(request);
      throw this.#noCandidate(request, set);
    }
    this.#options.retryBudget?.recordRequest();
    let candidate = this.picker.first(model, version, set)!;
    const tried = new Set<string>();
    for (;;) {
      try {
        return await this.#attempt(candidate, request);
      } catch (error) {
        const next = this.#retryTarget(error, request, set, tried, candidate);
        if (!next) throw error;
        this.#options.observer?.retried(candidate.kind === 'backend' ? 'backend' : 'node', (error as UpstreamError).failure ?? 'not-found');
        candidate = next;
      }
    }
  }

  drain(): Promise<void> {
    const forwarded =
      this.#forwarding === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    return Promise.all([this.#local.drain(), forwarded]).then(() => undefined);
  }

  counters(model: string, version: number): VersionCounters | undefined {
    return this.#local.counters?.(model, version);
  }

  /** The one retry: only after a retryable failure, once, on another candidate, in time and within the budget. */
  #retryTarget(error: unknown, request: InferenceRequest, set: CandidateSet, tried: Set<string>, failed: Candidate): Candidate | undefined {
    if (!(error instanceof UpstreamError) || !error.retryable || tried.size > 0) return undefined;
    tried.add(failed.id);
    if (request.deadline !== undefined && Date.now() >= request.deadline) return undefined;
    if (request.client?.gone) return undefined;
    const next = this.picker.pick(request.model, request.version, set.usable, tried);
    if (!next) return undefined;
    // Asked last: a retry that has no candidate or no time left must not spend the budget.
    if (!this.#options.retryBudget?.tryAcquireRetry()) return undefined;
    return next;
  }

  async #attempt(candidate: Candidate, request: InferenceRequest): Promise<InferenceResult> {
    if (candidate.kind === 'local') return this.#runLocal(request);
    const target = candidate.target!;
    const health = this.#options.health;
    const observer = this.#options.observer;
    const started = performance.now();
    const abort = watchClient(request.client);
    this.#forwarding += 1;
    try {
      const { outputs } = await this.#forwarder.forward(target, {
        model: request.model,
        version: request.version,
        inputs: request.inputs,
        outputs: request.outputs,
        deadline: request.deadline,
        requestId: request.requestId,
        signal: abort?.signal,
      });
      health?.recordSuccess(target.id);
      observer?.forwarded(target.kind, 'success', (performance.now() - started) / 1000);
      return { model: request.model, version: request.version, outputs, servedBy: target.id };
    } catch (error) {
      const outcome = outcomeOf(error);
      if (error instanceof UpstreamError) {
        if (error.failure !== undefined) health?.recordFailure(target.id, error.failure);
        // It answered, and properly (a 4xx for the client's input, a 504 for its deadline).
        else if (error.upstreamStatus !== undefined) health?.recordSuccess(target.id);
        if (error.upstreamStatus === 400) this.#options.onInputRefused?.(request.model, request.version);
      }
      observer?.forwarded(target.kind, outcome, (performance.now() - started) / 1000);
      throw error;
    } finally {
      abort?.stop();
      this.#forwarding -= 1;
      if (this.#forwarding === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  async #runLocal(request: InferenceRequest): Promise<InferenceResult> {
    const id = key(request.model, request.version);
    this.#localInFlight.set(id, (this.#localInFlight.get(id) ?? 0) + 1);
    try {
      return await this.#local.infer(request);
    } finally {
      const left = (this.#localInFlight.get(id) ?? 1) - 1;
      if (left > 0) this.#localInFlight.set(id, left);
      else this.#localInFlight.delete(id);
    }
  }

  /** 503 with the reason: every candidate behind an open breaker, or none healthy at all. */
  #noCandidate(request: InferenceRequest, set: CandidateSet): SwitchyardError {
    const { model, version } = request;
    const now = Date.now();
    const until = set.excluded
      .map((entry) => this.#options.health?.describe(entry.id).ejectedUntil)
      .filter((at): at is number => at !== undefined && at > now);
    const retryAfterSeconds = until.length > 0 ? Math.max(1, Math.ceil((Math.min(...until) - now) / 1000)) : 1;
    const details = { model, version, candidates: set.remoteCount, excluded: set.excluded.map((entry) => ({ id: entry.id, reason: entry.reason })) };
    if (set.excluded.length > 0 && set.excluded.every((entry) => entry.reason === 'circuit-open')) {
      return new SwitchyardError(
        'CIRCUIT_OPEN',
        `model '${model}' version ${version}: the circuit breaker of every candidate (${set.excluded.length}) is open after repeated failures`,
        { retryAfterSeconds, details },
      );
    }
    const why =
      set.remoteCount === 0
        ? 'this process does not have it READY and no live node or healthy backend reports it'
        : `this process does not have it READY and all ${set.remoteCount} nodes and backends that have it are out of rotation`;
    return new SwitchyardError('NO_HEALTHY_BACKEND', `model '${model}' version ${version} cannot be served now: ${why}`, { retryAfterSeconds, details });
  }
}

function key(model: string, version: number): string {
  return `${model}\u0000${version}`;
}

function outcomeOf(error: unknown): ForwardOutcome {
  if (error instanceof UpstreamError) {
    if (error.failure !== undefined) return error.failure;
    return error.code === 'DEADLINE_EXCEEDED' ? 'deadline' : 'client-error';
  }
  if (error instanceof SwitchyardError) {
    if (error.code === 'DEADLINE_EXCEEDED') return 'deadline';
    if (error.code === 'REQUEST_CANCELLED') return 'cancelled';
  }
  return 'bad-response';
}

/** An AbortSignal that fires when the client goes away (undefined when it cannot be watched). */
function watchClient(client: ClientConnection | undefined): { signal: AbortSignal; stop: () => void } | undefined {
  if (!client?.onGone) return undefined;
  const controller = new AbortController();
  const stop = client.onGone(() => controller.abort());
  return { signal: controller.signal, stop };
}
