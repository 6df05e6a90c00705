/**
 * Every Prometheus metric of the gateway, defined here and nowhere else, on a private registry
 * (never prom-client's global one, so two gateways in one process never share series). Label
 * values stay bounded: model names are labels only when the registry knows them (anything else is
 * `_unknown`), versions only once resolved to an integer, protocols and states are fixed sets.
 *
 * Three feeds: the HTTP layer records each inference request through a RequestRecorder; the
 * batcher calls `executed`/`queued` (it takes this object as its observer); model lifecycle comes
 * from the registry's typed events. Gauges that mirror state elsewhere (in flight, queue depth,
 * routing) are read at scrape time, so the hot path pays nothing for them.
 */
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './series-family.js';

export const METRIC_PREFIX = 'switchyard_';
/** The model label of requests naming a model the registry does not know. */
export const UNKNOWN_MODEL = '_unknown';
export type RequestProtocol = 'native' | 'v2';

/** Version states as the registry names them; each version gets one 0/1 series per state. */
const MODEL_STATES = ['LOADING', 'READY', 'RELOADING', 'FAILED', 'DRAINING', 'UNLOADED'] as const;

/** The scopes of the rate limits (RateLimitScope), the only values of rate_limited_total's `scope`. */
const RATE_LIMIT_SCOPES = ['client', 'model'] as const;

/** Seconds: from well under a millisecond (the linear model) to long queues and slow models. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LOAD_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
/** Seconds from an async job's submit to its end: queueing included, so up to minutes. */
const JOB_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Async job statuses in the queue-wide gauge (the names of JobCounts). */
const JOB_COUNT_STATUSES = ['pending', 'processing', 'succeeded', 'failed'] as const;

/** The registry's lifecycle events this module listens to (structurally: metrics import nothing). */
export interface ModelLifecycleEvents {
  on(event: 'state-changed', listener: (e: { name: string; version: number; state: string }) => void): unknown;
  on(event: 'loaded', listener: (e: { name: string; version: number }) => void): unknown;
  on(event: 'swapped', listener: (e: { name: string; version: number }) => void): unknown;
  on(event: 'failed', listener: (e: { name: string; version: number }) => void): unknown;
  on(event: 'warmup-failed', listener: (e: { name: string; version: number }) => void): unknown;
  on(event: 'unloaded', listener: (e: { name: string; version: number }) => void): unknown;
}

export interface GatewayMetricsOptions {
  /** True when the registry knows the model; only such names become label values. */
  readonly knownModel: (name: string) => boolean;
  /**
   * True while the registry knows this version; asked only when a version's series would be
   * created, so a request or batch that finishes after its version was unloaded does not bring the
   * series back. Default: every version is known.
   */
  readonly knownVersion?: (name: string, version: number) => boolean;
  /** Requests accepted and not yet answered (read at scrape time). Default: no series. */
  readonly inFlight?: () => number;
  /** Queued requests per model version (read at scrape time). Default: no series. */
  readonly queueDepths?: () => Iterable<{ readonly model: string; readonly version: number; readonly depth: number }>;
  /** The router's counters and its source's connection (read at scrape time). Default: no series. */
  readonly routing?: () => {
    readonly hits: number;
    readonly misses: number;
    readonly source: string;
    readonly connected: boolean;
    /** Per model with a broken table: aliases that can not route, plus 1 when the table can not be read at all. */
    readonly errors?: Iterable<{ readonly model: string; readonly count: number }>;
    /** Tables served past ROUTE_MAX_AGE_MS because they could not be read again. */
    readonly stale?: number;
  };
  /**
   * Async jobs by status across every replica as last read from Redis (undefined before the first
   * read), and the age of that reading in seconds (Infinity before the first). Read from memory:
   * the caller refreshes it in the background, so a scrape never waits on Redis. Default: no series.
   */
  readonly jobCounts?: () => {
    readonly counts: Readonly<Record<(typeof JOB_COUNT_STATUSES)[number], number>> | undefined;
    readonly ageSeconds: number;
  };
  /**
   * Static V2 backends (src/cluster/static-backends.ts) as their probes last saw them: one row per
   * (backend, URL), already capped by the caller, plus totals over every URL. Default: no series.
   */
  readonly backends?: () => {
    readonly urls: Iterable<{ readonly name: string; readonly url: string; readonly healthy: boolean; readonly probeFailures: number }>;
    readonly healthy: number;
    readonly unhealthy: number;
  };
  /**
   * Scale-out membership (with REDIS_URL): live nodes other than this one in the directory, whether
   * that set is stale (Redis could not be read), and heartbeat writes that failed so far. Read at
   * scrape time. Default: no series.
   */
  readonly membership?: () => { readonly nodes: number; readonly stale: boolean; readonly heartbeatFailures: number };
  /**
   * Shadow traffic counts per model and shadow version (ShadowMirror.all(), read at scrape time;
   * a version's rows go when it unloads). Default: no series.
   */
  readonly shadow?: () => Iterable<{
    readonly model: string;
    readonly version: number;
    readonly agreed: number;
    readonly disagreed: number;
    readonly errors: number;
    readonly dropped: number;
    readonly maxAbsDifference: number;
    readonly argmaxRows: number;
    readonly argmaxAgreed: number;
  }>;
  /** Node process metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
}

interface RequestSeries {
  readonly version: string;
  readonly byStatus: Map<number, CounterSeries>;
  /** Duration series by status class (index 1..5 = 1xx..5xx). */
  readonly durationByClass: Array<HistogramSeries | undefined>;
}

interface BatchSeries {
  readonly executions: CounterSeries;
  readonly rows: CounterSeries;
  readonly batchSize: HistogramSeries;
  readonly compute: HistogramSeries;
  readonly queue: HistogramSeries;
  readonly splits: CounterSeries;
}

/**
 * Records inference requests of one protocol. Label children are cached in nested maps keyed by
 * model, version and status, so a request costs a few map lookups and no allocation once its
 * series exists.
 */
export class RequestRecorder {
  readonly #series = new Map<string, Map<number, RequestSeries>>();

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly protocol: RequestProtocol,
  ) {}

  /**
   * One answered request. `model` is the name from the path (any string: unknown names are folded
   * into `_unknown`); `version` the integer version it was routed to, if it got that far.
   */
  record(model: string | undefined, version: number | undefined, status: number, seconds: number): void {
    const known = model !== undefined && this.metrics.knownModel(model);
    const label = known ? model : UNKNOWN_MODEL;
    const versionKey = known && version !== undefined ? version : -1;
    let byVersion = this.#series.get(label);
    if (!byVersion) {
      byVersion = new Map();
      this.#series.set(label, byVersion);
    }
    let series = byVersion.get(versionKey);
    if (!series && versionKey >= 0 && !this.metrics.knownVersion(label, versionKey)) {
      // Answered after its version went away: counted as a request that never got a version.
      this.record(model, undefined, status, seconds);
      return;
    }
    if (!series) {
      series = { version: versionKey < 0 ? '' : String(versionKey), byStatus: new Map(), durationByClass: [] };
      byVersion.set(versionKey, series);
    }
    let counter = series.byStatus.get(status);
    if (!counter) {
      counter = this.metrics.requests.labels(label, series.version, this.protocol, String(status));
      series.byStatus.set(status, counter);
    }
    counter.inc();
    const statusClass = Math.min(5, Math.max(1, Math.floor(status / 100)));
    let duration = series.durationByClass[statusClass];
    if (!duration) {
      duration = this.metrics.requestDuration.labels(label, series.version, this.protocol, `${statusClass}xx`);
      series.durationByClass[statusClass] = duration;
    }
    duration.observe(seconds);
  }

  /** Forgets the cached series of a version that went away (GatewayMetrics removes the series themselves). */
  forget(model: string, version: number): void {
    const byVersion = this.#series.get(model);
    if (!byVersion) return;
    byVersion.delete(version);
    // Requests that never got a version (-1) stay while the model is known; they go with it.
    if (!this.metrics.knownModel(model)) byVersion.delete(-1);
    if (byVersion.size === 0) this.#series.delete(model);
  }
}

export class GatewayMetrics {
  /** Private to this gateway; `GET /metrics` renders it. */
  readonly registry = new Registry();
  readonly knownModel: (name: string) => boolean;
  readonly knownVersion: (name: string, version: number) => boolean;

  // Per request or per batch: the allocation-free families (series-family.ts). The rest is rare
  // (lifecycle) or read at scrape time, and uses prom-client's own metrics.
  readonly requests: CounterFamily;
  readonly requestDuration: HistogramFamily;
  readonly #queueDuration: HistogramFamily;
  readonly #computeDuration: HistogramFamily;
  readonly #batchSize: HistogramFamily;
  readonly #rows: CounterFamily;
  readonly #executions: CounterFamily;
  readonly #splits: CounterFamily;
  readonly #modelState: Gauge<'model' | 'version' | 'state'>;
  readonly #loadDuration: Histogram<'model' | 'result'>;
  readonly #swaps: Counter<'model' | 'version'>;
  readonly #loadFailures: Counter<'model' | 'version'>;
  readonly #warmupFailures: Counter<'model' | 'version'>;
  readonly #rateLimited: Counter<'model' | 'scope'>;
  readonly #rolloutSteps: Counter<'model' | 'outcome'>;
  readonly #rolloutWeight: Gauge<'model'>;
  readonly #jobsSubmitted: Counter<'model'>;
  readonly #jobsFinished: Counter<'model' | 'outcome'>;
  readonly #jobDuration: Histogram<'model' | 'outcome'>;
  readonly #upstreamEjections: Counter<'target_kind'>;
  readonly #breakerTransitions: Counter<'target_kind' | 'to'>;
  readonly #breakers: Gauge<'target_kind' | 'state'>;
  readonly #retries: Counter<'outcome'>;
  readonly #forwarded: Counter<'target_kind' | 'outcome'>;
  readonly #forwardDuration: Histogram<'target_kind'>;
  readonly #forwardRetries: Counter<'target_kind' | 'failure'>;
  readonly #recorders = new Map<RequestProtocol, RequestRecorder>();
  readonly #batchSeries = new Map<string, Map<number, BatchSeries>>();
  /** When each version's current load began (performance.now()), for the load duration. */
  readonly #loadStarted = new Map<string, number>();

  constructor(options: GatewayMetricsOptions) {
    this.knownModel = options.knownModel;
    this.knownVersion = options.knownVersion ?? (() => true);
    const registers = [this.registry];
    const name = (suffix: string) => METRIC_PREFIX + suffix;

    this.requests = new CounterFamily({
      name: name('requests_total'),
      help: 'Inference requests (native predict and V2 infer) answered, by model, routed version, protocol and HTTP status.',
      labelNames: ['model', 'version', 'protocol', 'status'],
      registers,
    });
    this.requestDuration = new HistogramFamily({
      name: name('request_duration_seconds'),
      help: 'Time from receiving an inference request to its answer, by model, routed version, protocol and status class.',
      labelNames: ['model', 'version', 'protocol', 'status_class'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const inFlight = options.inFlight;
    new Gauge({
      name: name('requests_in_flight'),
      help: 'Requests accepted and not yet answered (every endpoint except health and metrics).',
      registers,
      ...(inFlight ? { collect(this: Gauge) { this.set(inFlight()); } } : {}),
    });
    const queueDepths = options.queueDepths;
    new Gauge({
      name: name('queue_depth'),
      help: 'Requests waiting in a model version\'s queue (not yet in a batch).',
      labelNames: ['model', 'version'],
      registers,
      ...(queueDepths
        ? {
            collect(this: Gauge<'model' | 'version'>) {
              // Versions that went away must not linger with their last depth.
              this.reset();
              for (const { model, version, depth } of queueDepths()) this.labels(model, String(version)).set(depth);
            },
          }
        : {}),
    });
    this.#queueDuration = new HistogramFamily({
      name: name('queue_duration_seconds'),
      help: 'Time a request waited in its version\'s queue before its batch started.',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#computeDuration = new HistogramFamily({
      name: name('compute_duration_seconds'),
      help: 'Time of one batch execution (session run on a worker, including the round trip).',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#batchSize = new HistogramFamily({
      name: name('batch_size_rows'),
      help: 'Rows per batch execution.',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.#rows = new CounterFamily({
      name: name('inference_rows_total'),
      help: 'Rows (inferences) run; with dynamic batching one execution runs many.',
      labelNames: ['model', 'version'],
      registers,
    });
    this.#executions = new CounterFamily({
      name: name('inference_executions_total'),
      help: 'Batch executions (session runs).',
      labelNames: ['model', 'version'],
      registers,
    });
    this.#splits = new CounterFamily({
      name: name('batch_splits_total'),
      help: 'Merged batches onnxruntime rejected and the batcher reran one request at a time, so only the bad request failed.',
      labelNames: ['model', 'version'],
      registers,
    });
    this.#modelState = new Gauge({
      name: name('model_state'),
      help: '1 for the current state of each model version, 0 for the others.',
      labelNames: ['model', 'version', 'state'],
      registers,
      // Several HTTP loops (src/loops/): 1 when some loop has the version in this state.
      aggregator: 'max',
    });
    this.#loadDuration = new Histogram({
      name: name('model_load_duration_seconds'),
      help: 'Time to load a model file into sessions and warm them up, by result (success or failure).',
      labelNames: ['model', 'result'],
      buckets: LOAD_BUCKETS,
      registers,
    });
    this.#swaps = new Counter({
      name: name('model_swaps_total'),
      help: 'Reloads that replaced a serving session with a new one.',
      labelNames: ['model', 'version'],
      registers,
    });
    this.#loadFailures = new Counter({
      name: name('model_load_failures_total'),
      help: 'Loads or warmups of a model file that failed.',
      labelNames: ['model', 'version'],
      registers,
    });
    this.#warmupFailures = new Counter({
      name: name('warmup_failures_total'),
      help: 'Best-effort generated warmups that failed; the session went live anyway (warmup "auto", no samples).',
      labelNames: ['model', 'version'],
      registers,
    });
    this.#rateLimited = new Counter({
      name: name('rate_limited_total'),
      help: 'Requests refused with 429 by a rate limit, by model and limit scope.',
      labelNames: ['model', 'scope'],
      registers,
    });
    this.#rolloutSteps = new Counter({
      name: name('rollout_steps_total'),
      help: 'Rollout events this replica drove, by model and outcome (started, advanced, inconclusive, failed, promoted, rolled_back, aborted, stopped).',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.#rolloutWeight = new Gauge({
      name: name('rollout_canary_weight'),
      help: 'Canary weight (percent) of the running rollout of each model, as last set by this replica; 0 once it ended.',
      labelNames: ['model'],
      registers,
    });
    this.#jobsSubmitted = new Counter({
      name: name('jobs_submitted_total'),
      help: 'Async prediction jobs queued by this replica (a repeated Idempotency-Key is not counted).',
      labelNames: ['model'],
      registers,
    });
    this.#jobsFinished = new Counter({
      name: name('jobs_finished_total'),
      help: 'Async prediction jobs finished by this replica, by outcome (success, failure; cancelled: cancelled through this replica).',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.#jobDuration = new Histogram({
      name: name('job_duration_seconds'),
      help: 'Time from submitting an async job to its end (queue wait included), by outcome, for jobs this replica finished.',
      labelNames: ['model', 'outcome'],
      buckets: JOB_BUCKETS,
      registers,
    });
    // Upstream health (src/cluster/): labelled by target kind (node, backend), never by target id,
    // which is unbounded over time (node ids change with every restart that does not set NODE_ID).
    this.#upstreamEjections = new Counter({
      name: name('upstream_ejections_total'),
      help: 'Outlier ejections of upstream targets (consecutive failures), by target kind (node, backend).',
      labelNames: ['target_kind'],
      registers,
    });
    this.#breakerTransitions = new Counter({
      name: name('upstream_breaker_transitions_total'),
      help: 'Circuit breaker state changes of upstream targets, by target kind and the state entered (open, half-open, closed).',
      labelNames: ['target_kind', 'to'],
      registers,
    });
    this.#breakers = new Gauge({
      name: name('upstream_breakers'),
      help: 'Upstream targets whose circuit breaker is open or half-open, by target kind and state.',
      labelNames: ['target_kind', 'state'],
      registers,
    });
    this.#retries = new Counter({
      name: name('upstream_retries_total'),
      help: 'Retries of forwarded requests asked of the retry budget, by outcome (allowed, refused).',
      labelNames: ['outcome'],
      registers,
    });
    // Scale-out: by target kind (node, backend) only, never by node id (ids change with every
    // restart, so they would be an unbounded label); per-target health is on GET /cluster.
    this.#forwarded = new Counter({
      name: name('forwarded_requests_total'),
      help: 'Inference attempts forwarded to another node or a V2 backend, by target kind and outcome (success, client-error, deadline, cancelled, connect, reset, timeout, status-5xx, bad-response).',
      labelNames: ['target_kind', 'outcome'],
      registers,
    });
    this.#forwardDuration = new Histogram({
      name: name('forward_duration_seconds'),
      help: 'Time of one forwarded attempt, from sending it to its answer (or failure), by target kind.',
      labelNames: ['target_kind'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#forwardRetries = new Counter({
      name: name('forward_retries_total'),
      help: 'Forwarded attempts that failed before any byte of the answer and were retried on another candidate, by target kind of the failed one and why it failed.',
      labelNames: ['target_kind', 'failure'],
      registers,
    });
    const jobCounts = options.jobCounts;
    if (jobCounts) {
      new Gauge({
        name: name('jobs'),
        help: 'Async prediction jobs in the shared queue by status (pending, processing, and finished ones still retained), as last read from Redis (see switchyard_jobs_age_seconds).',
        labelNames: ['status'],
        registers,
        // Every loop reads the same queue: one reading, not their sum.
        aggregator: 'max',
        collect(this: Gauge<'status'>) {
          const { counts } = jobCounts();
          if (counts) for (const status of JOB_COUNT_STATUSES) this.labels(status).set(counts[status]);
        },
      });
      new Gauge({
        name: name('jobs_age_seconds'),
        help: 'Seconds since switchyard_jobs was last read from Redis successfully (+Inf before the first read).',
        registers,
        // The freshest loop's reading.
        aggregator: 'min',
        collect(this: Gauge) {
          this.set(jobCounts().ageSeconds);
        },
      });
    }
    const shadow = options.shadow;
    if (shadow) {
      new Counter({
        name: name('shadow_requests_total'),
        help: 'Requests mirrored to a shadow version (the routing table\'s `shadow` field), by model, shadow version and outcome: agreed, disagreed (outputs compared), error (not READY or failed), dropped (cap, queue or deadline).',
        labelNames: ['model', 'shadow_version', 'outcome'],
        registers,
        collect(this: Counter<'model' | 'shadow_version' | 'outcome'>) {
          this.reset();
          for (const row of shadow()) {
            const v = String(row.version);
            this.labels(row.model, v, 'agreed').inc(row.agreed);
            this.labels(row.model, v, 'disagreed').inc(row.disagreed);
            this.labels(row.model, v, 'error').inc(row.errors);
            this.labels(row.model, v, 'dropped').inc(row.dropped);
          }
        },
      });
      new Counter({
        name: name('shadow_argmax_rows_total'),
        help: 'Class-score rows (2-D float outputs with more than one class) of shadow runs compared by argmax, by model, shadow version and whether the argmax agreed with the primary\'s.',
        labelNames: ['model', 'shadow_version', 'agreement'],
        registers,
        collect(this: Counter<'model' | 'shadow_version' | 'agreement'>) {
          this.reset();
          for (const row of shadow()) {
            const v = String(row.version);
            this.labels(row.model, v, 'agreed').inc(row.argmaxAgreed);
            this.labels(row.model, v, 'disagreed').inc(row.argmaxRows - row.argmaxAgreed);
          }
        },
      });
      new Gauge({
        name: name('shadow_max_abs_difference'),
        help: 'Largest |shadow - primary| over every output element a shadow version was compared on, by model and shadow version.',
        labelNames: ['model', 'shadow_version'],
        registers,
        aggregator: 'max',
        collect(this: Gauge<'model' | 'shadow_version'>) {
          this.reset();
          for (const row of shadow()) this.labels(row.model, String(row.version)).set(row.maxAbsDifference);
        },
      });
    }
    const routing = options.routing;
    if (routing) {
      new Counter({
        name: name('route_cache_hits_total'),
        help: 'Routing table lookups answered from the cache (fresh or stale).',
        registers,
        collect(this: Counter) {
          this.reset();
          this.inc(routing().hits);
        },
      });
      new Counter({
        name: name('route_cache_misses_total'),
        help: 'Routing table lookups that had to wait for the routing source.',
        registers,
        collect(this: Counter) {
          this.reset();
          this.inc(routing().misses);
        },
      });
      new Gauge({
        name: name('routing_source_connected'),
        help: '1 while the routing source (redis or file) is reachable, else 0.',
        labelNames: ['source'],
        registers,
        // Connected only while every loop is.
        aggregator: 'min',
        collect(this: Gauge<'source'>) {
          const status = routing();
          this.reset();
          this.labels(status.source).set(status.connected ? 1 : 0);
        },
      });
      new Gauge({
        name: name('route_errors'),
        help: "Problems in a model's routing table: aliases that can not route (INVALID_ROUTE), plus 1 while the table can not be read at all (e.g. its Redis key is not a hash); absent for a sound table.",
        labelNames: ['model'],
        registers,
        // Every loop reads the same table.
        aggregator: 'max',
        collect(this: Gauge<'model'>) {
          this.reset();
          for (const { model, count } of routing().errors ?? []) this.labels(model).set(count);
        },
      });
      new Gauge({
        name: name('route_tables_stale'),
        help: 'Routing tables served past ROUTE_MAX_AGE_MS because the routing source could not be read again.',
        registers,
        // Every loop reads the same tables.
        aggregator: 'max',
        collect(this: Gauge) {
          this.set(routing().stale ?? 0);
        },
      });
    }
    const backends = options.backends;
    if (backends) {
      // Labels come from operators (names and URLs), bounded by the backends' own caps and the caller's series cap.
      new Gauge({
        name: name('backend_url_healthy'),
        help: "1 while a static backend URL passes its readiness probe (GET /v2/health/ready), else 0; at most 256 URLs get a series (see switchyard_backend_urls).",
        labelNames: ['backend', 'url'],
        registers,
        // Every loop probes on its own: healthy when some loop sees it so.
        aggregator: 'max',
        collect(this: Gauge<'backend' | 'url'>) {
          this.reset();
          for (const { name: backend, url, healthy } of backends().urls) this.labels(backend, url).set(healthy ? 1 : 0);
        },
      });
      new Gauge({
        name: name('backend_urls'),
        help: 'Static backend URLs by readiness probe state (healthy, unhealthy), over every URL.',
        labelNames: ['state'],
        registers,
        aggregator: 'max',
        collect(this: Gauge<'state'>) {
          const { healthy, unhealthy } = backends();
          this.labels('healthy').set(healthy);
          this.labels('unhealthy').set(unhealthy);
        },
      });
      new Counter({
        name: name('backend_probe_failures_total'),
        help: 'Failed active probes (readiness or a version\'s ready endpoint: no answer in time, refused, or not 2xx) of a static backend URL.',
        labelNames: ['backend', 'url'],
        registers,
        collect(this: Counter<'backend' | 'url'>) {
          this.reset();
          for (const { name: backend, url, probeFailures } of backends().urls) this.labels(backend, url).inc(probeFailures);
        },
      });
    }
    const membership = options.membership;
    if (membership) {
      new Gauge({
        name: name('cluster_nodes'),
        help: 'Live Switchyard nodes other than this one, as their heartbeats in Redis say (the last known set while switchyard_cluster_directory_stale is 1).',
        registers,
        // Every loop reads the same heartbeats.
        aggregator: 'max',
        collect(this: Gauge) {
          this.set(membership().nodes);
        },
      });
      new Gauge({
        name: name('cluster_directory_stale'),
        help: '1 while the node heartbeats could not be read from Redis (the last known node set is kept), else 0.',
        registers,
        aggregator: 'max',
        collect(this: Gauge) {
          this.set(membership().stale ? 1 : 0);
        },
      });
      new Counter({
        name: name('cluster_heartbeat_failures_total'),
        help: "Writes of this node's heartbeat to Redis that failed or timed out.",
        registers,
        collect(this: Counter) {
          this.reset();
          this.inc(membership().heartbeatFailures);
        },
      });
    }
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  /** The recorder for one protocol's inference requests (one per protocol, reused). */
  requestRecorder(protocol: RequestProtocol): RequestRecorder {
    let recorder = this.#recorders.get(protocol);
    if (!recorder) {
      recorder = new RequestRecorder(this, protocol);
      this.#recorders.set(protocol, recorder);
    }
    return recorder;
  }

  /** Cluster scheduler observer: one forwarded attempt ended (kind and outcome are fixed sets). */
  forwarded(kind: 'node' | 'backend', outcome: string, seconds: number): void {
    this.#forwarded.labels(kind, outcome).inc();
    this.#forwardDuration.labels(kind).observe(seconds);
  }

  /** Cluster scheduler observer: a failed attempt was retried on another candidate. */
  retried(kind: 'node' | 'backend', reason: string): void {
    this.#forwardRetries.labels(kind, reason).inc();
  }

  /** Batcher observer: one batch ran on a session. */
  executed(model: string, version: number, rows: number, _requests: number, computeMs: number): void {
    const series = this.#batch(model, version);
    if (!series) return;
    series.executions.inc();
    series.rows.inc(rows);
    series.batchSize.observe(rows);
    series.compute.observe(computeMs / 1000);
  }

  /** Batcher observer: a request left its queue for a batch after waiting `waitedMs`. */
  queued(model: string, version: number, waitedMs: number): void {
    this.#batch(model, version)?.queue.observe(waitedMs / 1000);
  }

  /** Batcher observer: onnxruntime rejected a merged batch; its requests are rerun one at a time. */
  split(model: string, version: number): void {
    this.#batch(model, version)?.splits.inc();
  }

  /** A request refused by a rate limit. `scope` is the limit's kind (a fixed set, e.g. client, model). */
  rateLimited(model: string | undefined, scope: string): void {
    this.#rateLimited.labels(model === undefined ? UNKNOWN_MODEL : this.#modelLabel(model), scope).inc();
  }

  /** A rollout event this replica drove (`outcome`: a fixed set, see the help text), and the canary weight it left. */
  rolloutStep(model: string, outcome: string, weight: number): void {
    const label = this.#modelLabel(model);
    this.#rolloutSteps.labels(label, outcome).inc();
    this.#rolloutWeight.labels(label).set(weight);
  }

  /** An async job queued through this replica. */
  jobSubmitted(model: string): void {
    this.#jobsSubmitted.labels(this.#modelLabel(model)).inc();
  }

  /** An async job cancelled through this replica. */
  jobCancelled(model: string): void {
    this.#jobsFinished.labels(this.#modelLabel(model), 'cancelled').inc();
  }

  /** An async job this replica's worker finished, `submitToFinishMs` after it was submitted. */
  jobFinished(model: string, outcome: 'success' | 'failure', submitToFinishMs: number): void {
    const label = this.#modelLabel(model);
    this.#jobsFinished.labels(label, outcome).inc();
    this.#jobDuration.labels(label, outcome).observe(submitToFinishMs / 1000);
  }

  /** Upstream health observer (src/cluster/upstream-health-tracker.ts): a target was ejected. */
  upstreamEjected(event: { readonly kind: 'node' | 'backend' }): void {
    this.#upstreamEjections.labels(event.kind).inc();
  }

  /** Upstream health observer: a target's breaker changed state. */
  upstreamBreakerChanged(event: { readonly kind: 'node' | 'backend'; readonly from: 'closed' | 'open' | 'half-open'; readonly to: 'closed' | 'open' | 'half-open' }): void {
    this.#breakerTransitions.labels(event.kind, event.to).inc();
    if (event.from !== 'closed') this.#breakers.labels(event.kind, event.from).dec();
    if (event.to !== 'closed') this.#breakers.labels(event.kind, event.to).inc();
  }

  /** Upstream health observer: a target left (its breaker no longer counts as open or half-open). */
  upstreamForgotten(event: { readonly kind: 'node' | 'backend'; readonly breaker: 'closed' | 'open' | 'half-open' }): void {
    if (event.breaker !== 'closed') this.#breakers.labels(event.kind, event.breaker).dec();
  }

  /** Retry budget observer (src/cluster/retry-budget.ts): a retry was allowed or refused. */
  retryBudgetDecision(allowed: boolean): void {
    this.#retries.labels(allowed ? 'allowed' : 'refused').inc();
  }

  /** Follows the registry's lifecycle events: state per version, load durations, swaps, failures. */
  observeLifecycle(events: ModelLifecycleEvents): void {
    events.on('state-changed', ({ name, version, state }) => {
      const v = String(version);
      for (const each of MODEL_STATES) this.#modelState.labels(name, v, each).set(each === state ? 1 : 0);
      const key = `${name}\u0000${version}`;
      if (state === 'LOADING' || state === 'RELOADING') this.#loadStarted.set(key, performance.now());
      else if (state === 'UNLOADED') this.#loadStarted.delete(key);
    });
    events.on('loaded', ({ name, version }) => this.#loadFinished(name, version, 'success'));
    events.on('swapped', ({ name, version }) => this.#swaps.labels(name, String(version)).inc());
    events.on('failed', ({ name, version }) => {
      this.#loadFailures.labels(name, String(version)).inc();
      this.#loadFinished(name, version, 'failure');
    });
    events.on('warmup-failed', ({ name, version }) => this.#warmupFailures.labels(name, String(version)).inc());
    events.on('unloaded', ({ name, version }) => this.forgetVersion(name, version));
  }

  /**
   * Removes every series of a version that was unloaded (its file deleted, or an unload through
   * the API), so versions that come and go leave nothing behind; once the model has no version
   * left, its model-level series go too. A version that loads again starts from zero.
   */
  forgetVersion(model: string, version: number): void {
    const v = String(version);
    const labels = { model, version: v };
    for (const family of [this.requests, this.requestDuration, this.#queueDuration, this.#computeDuration, this.#batchSize, this.#rows, this.#executions, this.#splits]) {
      family.remove(labels);
    }
    for (const state of MODEL_STATES) this.#modelState.remove({ ...labels, state });
    this.#swaps.remove(labels);
    this.#loadFailures.remove(labels);
    this.#warmupFailures.remove(labels);
    this.#loadStarted.delete(`${model}\u0000${version}`);
    this.#batchSeries.get(model)?.delete(version);
    if (this.#batchSeries.get(model)?.size === 0) this.#batchSeries.delete(model);
    for (const recorder of this.#recorders.values()) recorder.forget(model, version);
    if (this.knownModel(model)) return;
    // The model is gone: its requests that never reached a version, and its model-level series.
    for (const family of [this.requests, this.requestDuration]) family.remove({ model, version: '' });
    for (const result of ['success', 'failure']) this.#loadDuration.remove({ model, result });
    for (const scope of RATE_LIMIT_SCOPES) this.#rateLimited.remove({ model, scope });
    this.#jobsSubmitted.remove({ model });
    for (const outcome of ['success', 'failure', 'cancelled']) this.#jobsFinished.remove({ model, outcome });
    for (const outcome of ['success', 'failure']) this.#jobDuration.remove({ model, outcome });
  }

  #exposition: () => Promise<string> = () => this.registry.metrics();

  /** The text exposition format, for `GET /metrics`. */
  exposition(): Promise<string> {
    return this.#exposition();
  }

  /** Several HTTP loops: `GET /metrics` answers what `source` gives (every loop's series, aggregated by the primary). */
  exposeVia(source: () => Promise<string>): void {
    this.#exposition = source;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #modelLabel(model: string): string {
    return this.knownModel(model) ? model : UNKNOWN_MODEL;
  }

  #loadFinished(name: string, version: number, result: 'success' | 'failure'): void {
    const key = `${name}\u0000${version}`;
    const started = this.#loadStarted.get(key);
    if (started === undefined) return;
    this.#loadStarted.delete(key);
    this.#loadDuration.labels(name, result).observe((performance.now() - started) / 1000);
  }

  /** The version's batch series; undefined (nothing recorded) once the version is gone. */
  #batch(model: string, version: number): BatchSeries | undefined {
    const cached = this.#batchSeries.get(model)?.get(version);
    if (cached) return cached;
    if (!this.knownVersion(model, version)) return undefined;
    let byVersion = this.#batchSeries.get(model);
    if (!byVersion) {
      byVersion = new Map();
      this.#batchSeries.set(model, byVersion);
    }
    let series = byVersion.get(version);
    if (!series) {
      const v = String(version);
      series = {
        executions: this.#executions.labels(model, v),
        rows: this.#rows.labels(model, v),
        batchSize: this.#batchSize.labels(model, v),
        compute: this.#computeDuration.labels(model, v),
        queue: this.#queueDuration.labels(model, v),
        splits: this.#splits.labels(model, v),
      };
      byVersion.set(version, series);
    }
    return series;
  }
}
