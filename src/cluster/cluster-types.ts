/**
 * Types shared by the scale-out module (src/cluster/): the places a resolved (model, version) can
 * be served from other than this process, and how their health is tracked. One file so that the
 * membership, backends, health and forwarding parts agree on one shape.
 */

/** A remote place that serves model versions over the Open Inference Protocol. */
export interface UpstreamTarget {
  /** Unique and stable: a node's id, or `backend:<name>:<url>` for a static backend. */
  readonly id: string;
  readonly kind: 'node' | 'backend';
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8081 */
  readonly baseUrl: string;
  /** Work the target itself reports queued + in flight for the version (heartbeats); 0 for backends. */
  readonly reportedLoad: number;
  /** Relative weight (static backends may set it; nodes 1). */
  readonly weight: number;
}

/** Why a forwarded attempt failed, as passive health checking counts it. */
export type UpstreamFailure = 'connect' | 'reset' | 'timeout' | 'status-5xx' | 'bad-response';

/** What health tracking says about one target. */
export interface UpstreamHealthView {
  readonly ejected: boolean;
  /** Epoch ms the current ejection ends, when ejected. */
  readonly ejectedUntil?: number | undefined;
  /** Ejections so far (the ejection time grows with it). */
  readonly ejections: number;
  readonly consecutiveFailures: number;
  readonly breaker: 'closed' | 'open' | 'half-open';
}

/** Passive outlier ejection plus a circuit breaker per target (implemented in src/cluster/upstream-health-tracker.ts). */
export interface UpstreamHealth {
  /**
   * Of these candidate ids, the ones a request may be sent to now. Outlier ejection never removes
   * more than half of the given set (the least recently ejected stay in rotation); an open breaker
   * removes its target; a half-open one admits one probe request at a time (select() hands the
   * probe out, so call it once per request). `probe`, when set, is the usable id that was handed
   * the probe: send this request there, or the probe is lost until its lease ends.
   */
  select(ids: readonly string[]): { readonly usable: readonly string[]; readonly excluded: ReadonlyArray<{ readonly id: string; readonly reason: 'ejected' | 'circuit-open' }>; readonly probe?: string | undefined };
  recordSuccess(id: string): void;
  recordFailure(id: string, failure: UpstreamFailure): void;
  describe(id: string): UpstreamHealthView;
  /** Forget a target that left (node gone, backend removed). */
  forget(id: string): void;
}

/** At most ~10 % extra requests as retries (implemented in src/cluster/retry-budget.ts). */
export interface RetryBudget {
  /** Count one first attempt. */
  recordRequest(): void;
  /** True (and counted) when a retry fits in the budget now. */
  tryAcquireRetry(): boolean;
}

/** A live Switchyard node as its heartbeat describes it (implemented by src/cluster/node-directory.ts). */
export interface NodeView {
  readonly id: string;
  readonly url: string;
  readonly startedAt: number;
  readonly heartbeatAt: number;
  readonly eventLoopUtilization: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The versions it has READY, with its own in-flight and queued counts. */
  readonly versions: ReadonlyArray<{ readonly model: string; readonly version: number; readonly inFlight: number; readonly queued: number }>;
}

/** The live nodes other than this one (src/cluster/node-directory.ts). */
export interface ClusterMembers {
  nodes(): readonly NodeView[];
  /** Live nodes (not this process) reporting (model, version) READY, as targets. */
  targetsFor(model: string, version: number): readonly UpstreamTarget[];
  /** Versions of a model some live node has READY. */
  versionsOf(model: string): readonly number[];
  /** True while the last read of the heartbeats failed (Redis down): the last known set is kept. */
  readonly stale: boolean;
}

/** Static V2 backends (Triton, KServe, MLServer) from config/backends.json or Redis (src/cluster/static-backends.ts). */
export interface BackendTargets {
  /** Healthy (active probes) backend URLs serving (model, version), as targets. */
  targetsFor(model: string, version: number): readonly UpstreamTarget[];
  /** Versions of a model some healthy backend serves. */
  versionsOf(model: string): readonly number[];
  /** Every backend and URL with its probe state, for GET /cluster. */
  describe(): ReadonlyArray<{ readonly name: string; readonly url: string; readonly healthy: boolean; readonly models: Record<string, readonly number[]>; readonly lastProbeAt?: number | undefined; readonly lastError?: string | undefined }>;
}
