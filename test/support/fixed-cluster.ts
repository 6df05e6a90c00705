/**
 * Second real implementations of the scale-out collaborators, for forwarding tests while the
 * heartbeat directory, the breakers and the static backends live on other branches: a fixed list
 * of real node processes (ClusterMembers), a ratio retry budget (RetryBudget) and a
 * consecutive-failure ejector (UpstreamHealth). Small on purpose; the real ones are in src/cluster/.
 */
import type { ClusterMembers, NodeView, RetryBudget, UpstreamFailure, UpstreamHealth, UpstreamHealthView, UpstreamTarget } from '../../src/cluster/cluster-types.js';

export interface FixedNode {
  readonly id: string;
  readonly url: string;
  /** model -> versions it has READY. */
  readonly models: Record<string, readonly number[]>;
  /** Reported queued + in flight; default 0. */
  readonly load?: number;
}

/** The nodes given, all live until removed. */
export class FixedClusterMembers implements ClusterMembers {
  readonly stale = false;
  #nodes: FixedNode[];

  constructor(nodes: readonly FixedNode[]) {
    this.#nodes = [...nodes];
  }

  remove(id: string): void {
    this.#nodes = this.#nodes.filter((node) => node.id !== id);
  }

  nodes(): readonly NodeView[] {
    return this.#nodes.map((node) => ({
      id: node.id,
      url: node.url,
      startedAt: 0,
      heartbeatAt: Date.now(),
      eventLoopUtilization: 0,
      p50Ms: 0,
      p99Ms: 0,
      versions: Object.entries(node.models).flatMap(([model, versions]) => versions.map((version) => ({ model, version, inFlight: 0, queued: node.load ?? 0 }))),
    }));
  }

  targetsFor(model: string, version: number): readonly UpstreamTarget[] {
    return this.#nodes
      .filter((node) => node.models[model]?.includes(version))
      .map((node) => ({ id: node.id, kind: 'node', baseUrl: node.url, reportedLoad: node.load ?? 0, weight: 1 }));
  }

  versionsOf(model: string): readonly number[] {
    return [...new Set(this.#nodes.flatMap((node) => node.models[model] ?? []))].sort((a, b) => a - b);
  }
}

/** Retries up to `ratio` of first attempts, plus `minRetries` to start with. */
export class RatioRetryBudget implements RetryBudget {
  requests = 0;
  retries = 0;
  constructor(
    readonly ratio = 0.1,
    readonly minRetries = 10,
  ) {}

  recordRequest(): void {
    this.requests += 1;
  }

  tryAcquireRetry(): boolean {
    if (this.retries >= this.minRetries + this.requests * this.ratio) return false;
    this.retries += 1;
    return true;
  }
}

/** Ejects a target for `ejectMs` after `threshold` consecutive failures; never more than half of a set. */
export class ConsecutiveFailureHealth implements UpstreamHealth {
  readonly failures: Array<{ id: string; failure: UpstreamFailure }> = [];
  readonly #state = new Map<string, { consecutive: number; ejectedUntil: number; ejections: number }>();

  constructor(
    readonly threshold = 3,
    readonly ejectMs = 30_000,
  ) {}

  select(ids: readonly string[]) {
    const now = Date.now();
    const ejected = ids.filter((id) => (this.#state.get(id)?.ejectedUntil ?? 0) > now);
    const kept = ejected.slice(0, Math.floor(ids.length / 2));
    return {
      usable: ids.filter((id) => !kept.includes(id)),
      excluded: kept.map((id) => ({ id, reason: 'ejected' as const })),
    };
  }

  recordSuccess(id: string): void {
    const state = this.#entry(id);
    state.consecutive = 0;
  }

  recordFailure(id: string, failure: UpstreamFailure): void {
    this.failures.push({ id, failure });
    const state = this.#entry(id);
    state.consecutive += 1;
    if (state.consecutive >= this.threshold && state.ejectedUntil <= Date.now()) {
      state.ejectedUntil = Date.now() + this.ejectMs;
      state.ejections += 1;
    }
  }

  describe(id: string): UpstreamHealthView {
    const state = this.#entry(id);
    const ejected = state.ejectedUntil > Date.now();
    return { ejected, ejectedUntil: ejected ? state.ejectedUntil : undefined, ejections: state.ejections, consecutiveFailures: state.consecutive, breaker: 'closed' };
  }

  forget(id: string): void {
    this.#state.delete(id);
  }

  #entry(id: string) {
    let state = this.#state.get(id);
    if (!state) {
      state = { consecutive: 0, ejectedUntil: 0, ejections: 0 };
      this.#state.set(id, state);
    }
    return state;
  }
}
