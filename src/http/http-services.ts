/**
 * What the HTTP layer needs from the rest of the gateway, as small interfaces: routes stay thin
 * (decode, call, encode) and tests can assemble an app from real parts in any combination.
 */
import type { Logger } from 'pino';
import type { BackendTargets, ClusterMembers, NodeView, UpstreamHealth } from '../cluster/cluster-types.js';
import type { JobCounts, JobView, PredictionJobSubmission } from '../jobs/prediction-job.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { InferenceScheduler } from '../scheduling/inference-scheduler.js';
import type { ModelSignature } from '../tensor.js';
import type { RolloutApi } from '../rollouts/rollouts.js';
import type { RouteStore } from '../routing/route-source.js';
import type { Routes } from '../routing/route-table.js';
import type { ShadowTarget } from '../routing/shadow-target.js';
import type { ShadowMirror } from '../shadow/shadow-mirror.js';
import type { RateLimitChecker } from './middleware/rate-limit-middleware.js';
import type { RequestGate } from './middleware/request-gate.js';

export interface VersionView {
  readonly version: number;
  readonly state: string;
  readonly reason?: string | undefined;
  readonly signature?: ModelSignature | undefined;
  /** True when a request to this version would be served right now. */
  readonly servable?: boolean | undefined;
  /** How the serving session was warmed up (the registry's WarmupReport). */
  readonly warmup?:
    | { readonly mode: string; readonly source: string; readonly samples: number; readonly ran: number; readonly lastError?: string }
    | undefined;
}

export interface ModelCatalog {
  has(model: string): boolean;
  models(): string[];
  versions(model: string): readonly VersionView[];
  /** One version's view (the hot path: no list of every version). */
  status(model: string, version: number): VersionView | undefined;
}

export interface VersionResolver {
  /** `shadow`: the table's shadow field, for a request the table routed (mirrored by `shadow` below). */
  resolve(model: string, versionSpec?: string): Promise<{ version: number; alias?: string | undefined; shadow?: ShadowTarget | undefined }>;
  /** The model's alias -> target table as the routing source has it (for display). */
  routes(model: string): Promise<Record<string, string>>;
}

/** What is on disk (the V2 repository extension's index and load). */
export interface RepositoryListing {
  list(): ReadonlyArray<{ readonly name: string; readonly versions: readonly number[] }>;
  /** Where a version's model file lives. */
  modelPath(name: string, version: number): string;
}

/** Loading and unloading versions on request (the V2 repository extension). */
export interface ModelLoader {
  /** Resolves once the file serves; rejects with the reason when it could not be loaded. */
  load(name: string, version: number, path: string): Promise<void>;
  /** Resolves once the version's in-flight requests finished and its session is released. */
  unload(name: string, version: number): Promise<void>;
  /** Every version the loader knows, in any state. */
  knownVersions(name: string): number[];
}

/** The routing source as the admin API uses it: reads plus the validated, published edits. */
export interface AdminRouteStore extends RouteStore {
  read(model: string): Promise<Routes | undefined>;
  readAll?(): Promise<Record<string, Routes>>;
}

/** The async job queue (PredictionQueue): shared by every replica through Redis. */
export interface AsyncJobs {
  /** Queues a job, or returns the existing one for a repeated Idempotency-Key (`created` false). */
  submit(submission: PredictionJobSubmission): Promise<{ view: JobView; created: boolean }>;
  /**
   * Undefined for an unknown (or expired) id, or a job another API key than `requester`
   * submitted; waits up to `waitMs` for an unfinished job.
   */
  get(id: string, waitMs?: number, requester?: string): Promise<JobView | undefined>;
  /** Cancels a PENDING job (409 once started, 404 when unknown or not the requester's); a second cancel finds it CANCELLED. */
  cancel(id: string, requester?: string): Promise<{ view: JobView; cancelledNow: boolean }>;
  counts(): Promise<JobCounts>;
}

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
  /** What is degraded without making the replica unready (e.g. a routing table that can not be used). */
  readonly warnings?: readonly string[];
}

export interface ModelConfigView {
  /** The config.json in force (defaults for absent fields are applied where used). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Why the current config.json was refused (the previous one stays in force). */
  readonly error?: string | undefined;
}

/** What other nodes and V2 backends serve (src/cluster/remote-catalog.ts): a front with an empty repository routes to them. */
export interface RemoteModels {
  /** True when some live node or healthy backend has the model. */
  has(model: string): boolean;
  /** Versions of the model they have, ascending. */
  versionsOf(model: string): readonly number[];
  /** The version's signature, read from one of them (cached); undefined when none has it. */
  signature(model: string, version: number): Promise<ModelSignature> | undefined;
  /** Forgets a signature the inputs did not match (at most about once a second); true when it did. */
  invalidate(model: string, version: number): boolean;
}

/**
 * What GET /cluster lists. The optional parts are filled in by whoever has them: membership gives
 * `self` and `members`; passive health gives `health` (per target id); static backends give
 * `backends`. An absent part is left out of the answer.
 */
export interface ClusterListing {
  /** This node as its heartbeat describes it. */
  self(): NodeView;
  /** The other live nodes (the directory); absent without REDIS_URL. */
  readonly members?: ClusterMembers | undefined;
  /** Ejection and breaker state per target id; absent = not listed. */
  readonly health?: Pick<UpstreamHealth, 'describe'> | undefined;
  /** Static V2 backends; absent = not listed. */
  readonly backends?: Pick<BackendTargets, 'describe'> | undefined;
}

export interface HttpServices {
  /** A model's config.json as in force. */
  modelConfig(model: string): ModelConfigView;
  readonly catalog: ModelCatalog;
  readonly resolver: VersionResolver;
  readonly scheduler: InferenceScheduler;
  readonly gate: RequestGate;
  readiness(): Readiness;
  readonly logger: Logger;
  /** Largest accepted request body. */
  readonly bodyLimitBytes: number;
  /** For the V2 repository extension; without both, its endpoints answer 404. */
  readonly repository?: RepositoryListing | undefined;
  readonly loader?: ModelLoader | undefined;
  /** Where the admin API reads and writes routing tables (published to every replica). */
  readonly routeStore?: AdminRouteStore | undefined;
  /** Bearer token of the /admin endpoints; unset = they answer 404. */
  readonly adminToken?: string | undefined;
  /** Prometheus metrics; unset (METRICS_ENABLED=false) = no recording and no /metrics. */
  readonly metrics?: GatewayMetrics | undefined;
  /** API keys accepted by the inference API (/models/*, /v2/models/*); absent or empty = open. */
  readonly apiKeys?: readonly string[] | undefined;
  /** Async predictions; absent (no REDIS_URL) = the job endpoints answer 501. */
  readonly jobs?: AsyncJobs | undefined;
  /** Rollouts (`/admin/rollouts`); undefined without REDIS_URL (they answer 501). */
  readonly rollouts?: RolloutApi | undefined;
  /** False in a worker-only replica: only health, readiness and metrics are served. Default true. */
  readonly serveApi?: boolean | undefined;
  /** Rate limits of the inference endpoints; absent = none (the middleware is not installed). */
  readonly rateLimits?: RateLimitChecker | undefined;
  /** Scale-out: what other nodes and backends serve; absent = only this gateway's own repository. */
  readonly remote?: RemoteModels | undefined;
  /** Shadow traffic (src/shadow/shadow-mirror.ts); absent = the `shadow` field is ignored. */
  readonly shadow?: Pick<ShadowMirror, 'begin' | 'stats'> | undefined;
  /** Proxies whose X-Forwarded-For names the client (addresses, CIDR subnets); absent or empty = the header is ignored. */
  readonly trustedProxies?: readonly string[] | undefined;
  /** What GET /cluster lists; absent = the endpoint answers 404. */
  readonly cluster?: ClusterListing | undefined;
  /** This process's node id: `x-served-by` of the answers it ran itself. Default: no header. */
  readonly nodeId?: string | undefined;
}
