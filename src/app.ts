/**
 * Wires the modules together; the only place that knows them all. Start-up order: runtime,
 * registry, routing source, HTTP listener, repository scan. Shutdown is the reverse, ordered so
 * that nothing accepted is dropped: refuse new work, drain, release sessions, close Redis.
 */
import { createAdaptorServer } from '@hono/node-server';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { BackendTargets, ClusterMembers, RetryBudget, UpstreamHealth } from './cluster/cluster-types.js';
import { ClusterScheduler } from './cluster/cluster-scheduler.js';
import { RemoteCatalog } from './cluster/remote-catalog.js';
import { SlidingRetryBudget } from './cluster/retry-budget.js';
import { UpstreamForwarder } from './cluster/upstream-forwarder.js';
import { UpstreamHealthTracker } from './cluster/upstream-health-tracker.js';
import type { Config } from './config.js';
import { ConnectionDrainer } from './http/connection-drainer.js';
import { createHttpApp } from './http/create-http-app.js';
import type { ModelLoader, Readiness } from './http/http-services.js';
import { RequestGate } from './http/middleware/request-gate.js';
import { createPredictionExecutor } from './jobs/prediction-executor.js';
import { PredictionQueue } from './jobs/prediction-queue.js';
import { PredictionWorker } from './jobs/prediction-worker.js';
import { StaticBackends } from './cluster/static-backends.js';
import { createLogger } from './logger.js';
import { BackgroundReading } from './metrics/background-reading.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import type { JobCounts } from './jobs/prediction-job.js';
import { LostSessionReloader } from './registry/lost-session-reloader.js';
import { ModelRegistry } from './registry/model-registry.js';
import { RepositorySync } from './registry/repository-sync.js';
import { repositoryWarmupPlans } from './registry/repository-warmup-plans.js';
import { RateLimits } from './resilience/rate-limits.js';
import { sessionSettingsOf } from './repository/model-config.js';
import { ModelRepository } from './repository/model-repository.js';
import { Rollouts } from './rollouts/rollouts.js';
import { createRouteSource } from './routing/create-route-source.js';
import { Router } from './routing/router.js';
import type { InferenceRuntime } from './runtime/inference-runtime.js';
import { WorkerPoolRuntime } from './runtime/worker-pool-runtime.js';
import { settlesWithin } from './settles-within.js';
import { ModelConfigStore } from './registry/model-config-store.js';
import { BatchingPolicyCache } from './scheduling/batching-policy-cache.js';
import { DynamicBatcher } from './scheduling/dynamic-batcher.js';
import type { InferenceScheduler } from './scheduling/inference-scheduler.js';
import { ClusterMembership } from './cluster/cluster-membership.js';
import { LatencyWindow } from './cluster/latency-window.js';
import { defaultAdvertiseUrl, NodeReport, type VersionLoad } from './cluster/node-report.js';
import { ShadowMirror } from './shadow/shadow-mirror.js';

export interface SwitchyardOptions {
  /** Default: a pino logger at config.logLevel on stdout. */
  readonly logger?: Logger;
  /** Default: a WorkerPoolRuntime sized by config.runtime.workers. */
  readonly runtime?: InferenceRuntime;
  /** What the V2 repository load/unload endpoints use, given the registry; default the registry (several HTTP loops: all of theirs). */
  readonly repositoryLoader?: (registry: ModelRegistry) => ModelLoader;
  /** The scheduler as the HTTP routes see it (several HTTP loops: counters of every loop); default the batcher. */
  readonly httpScheduler?: (scheduler: DynamicBatcher, registry: ModelRegistry) => InferenceScheduler;
  /**
   * Scale-out (src/cluster/), each optional: undefined = that part is absent. The live nodes other
   * than this one (heartbeats) and the static V2 backends are where a version may be forwarded to;
   * without either the gateway serves only its own repository, as a single process.
   */
  readonly members?: ClusterMembers;
  /** Default: the static backends built from config (`switchyard.backends`), when there are any. */
  readonly backends?: BackendTargets;
  /** Passive outlier ejection and breakers per target. Default: an UpstreamHealthTracker from config.upstreamHealth. */
  readonly upstreamHealth?: UpstreamHealth;
  /** Bounds retries on another candidate. Default: a SlidingRetryBudget from config.retryBudget. */
  readonly retryBudget?: RetryBudget;
  /**
   * Whether this process writes the node's heartbeat (with REDIS_URL). Several HTTP loops are one
   * node (one URL): only the first loop writes it, with the counts of every loop. Default true.
   */
  readonly publishHeartbeat?: boolean;
}

export interface ShutdownReport {
  /** True when every accepted request answered before the drain timeout. */
  readonly drained: boolean;
  /** Requests still running when the drain timeout ended the wait. */
  readonly abandoned: number;
}

export class Switchyard {
  readonly config: Config;
  readonly logger: Logger;
  readonly runtime: InferenceRuntime;
  readonly registry: ModelRegistry;
  readonly repository: ModelRepository;
  readonly sync: RepositorySync;
  readonly routeSource: ReturnType<typeof createRouteSource>;
  readonly router: Router;
  readonly scheduler: DynamicBatcher;
  /** What the HTTP routes schedule through: local, or forwarded to another node or backend. */
  readonly cluster: ClusterScheduler;
  /** The forwarding hop's connection pools (idle without members and backends). */
  readonly forwarder: UpstreamForwarder;
  /** What other nodes and backends serve; undefined without members and backends. */
  readonly remote: RemoteCatalog | undefined;
  /** Undefined when METRICS_ENABLED=false. */
  readonly metrics: GatewayMetrics | undefined;
  /** Per-client and per-model limits; undefined when none can apply (no limit set, no Redis for overrides). */
  readonly rateLimits: RateLimits | undefined;
  readonly configs = new ModelConfigStore();
  /** The shared async job queue; undefined without REDIS_URL (the job endpoints answer 501). */
  readonly jobs: PredictionQueue | undefined;
  /** This replica's job worker; undefined without REDIS_URL or with JOB_CONCURRENCY=0. */
  readonly jobWorker: PredictionWorker | undefined;
  /**
   * Static V2 backends (Triton, KServe, MLServer) and their probe health; undefined when there is
   * no backends file at start and no REDIS_URL, or when options.backends replaces them. Probing
   * starts with listen().
   */
  readonly backends: StaticBackends | undefined;
  /** Passive health of the nodes and backends requests are forwarded to (outlier ejection, breakers). */
  readonly upstreamHealth: UpstreamHealth;
  /** Bounds the retries of forwarded requests on another candidate. */
  readonly retryBudget: RetryBudget;
  /** Shadow traffic: mirrors the `shadow` share of table-routed requests and compares the outputs. */
  readonly shadow: ShadowMirror;
  /** Rollouts (`/admin/rollouts`) and their driver; undefined without REDIS_URL and in worker mode. */
  readonly rollouts: Rollouts | undefined;
  /** Batching policies by model and version; dropped when a config or a version's session changes. */
  readonly policies: BatchingPolicyCache;
  /** The queue-wide job counts for metrics, read from Redis in the background (a scrape never waits on Redis). */
  readonly #jobCounts: BackgroundReading<JobCounts> | undefined;
  /** Reloads the versions whose session died with a worker thread. */
  readonly #lostSessions: LostSessionReloader;
  readonly gate = new RequestGate();
  readonly http: ReturnType<typeof createHttpApp>;
  /** Latencies of this node's recent inference requests (the heartbeat's p50/p99). */
  readonly latencies = new LatencyWindow();
  /** What this node says of itself (its heartbeat and the `self` of GET /cluster). */
  readonly nodeReport: NodeReport;
  /** The heartbeat and the directory of the other nodes; undefined without REDIS_URL and in a worker-only replica. */
  readonly membership: ClusterMembership | undefined;
  /** The live nodes other than this one (ClusterMembers, for forwarding); undefined without membership. */
  get members(): ClusterMembers | undefined {
    return this.membership?.directory;
  }
  /** The scheduler whose counters give the heartbeat's per-version load (every loop's, with several). */
  readonly #loadCounters: InferenceScheduler;
  /** Set while the node has left the cluster and waits for its peers to notice, before the drain. */
  #leaving = false;
  #server: Server | undefined;
  #connections: ConnectionDrainer | undefined;
  #routingEverConnected = false;
  #initialLoadDone = false;
  #shutdown: Promise<ShutdownReport> | undefined;
  #runtimeStopped: boolean | undefined;

  constructor(config: Config, options: SwitchyardOptions = {}) {
    this.config = config;
    this.logger = options.logger ?? createLogger(config.logLevel);
    this.runtime =
      options.runtime ??
      new WorkerPoolRuntime({
        workers: config.runtime.workers,
        threadNice: config.runtime.workerNice,
        onSessionLost: (lost) => this.#lostSessions.sessionLost(lost) });
    this.registry = new ModelRegistry({
      runtime: this.runtime,
      sessionOptions: config.runtime,
      loadSettingsFor: (name) => sessionSettingsOf(this.configs.get(name)),
      warmup: config.warmup,
      warmupFor: repositoryWarmupPlans({
        modelDir: (name) => this.repository.modelDir(name),
        configs: this.configs,
        limits: { maxBytes: config.bodyLimitBytes },
      }),
      closeTimeoutMs: config.drainTimeoutMs,
      loadTimeoutMs: config.modelLoadTimeoutMs,
    });
    this.#lostSessions = new LostSessionReloader({ registry: this.registry, logger: this.logger });
    this.repository = new ModelRepository({ root: config.modelRepo, stabilityWindowMs: config.modelStabilityMs, logger: this.logger });
    this.sync = new RepositorySync({ repository: this.repository, registry: this.registry, logger: this.logger, configs: this.configs });
    this.nodeReport = new NodeReport({
      id: config.membership.nodeId,
      url: () => config.membership.advertiseUrl ?? defaultAdvertiseUrl(config.host, this.port),
      versions: () => this.#versionLoads(),
      latencies: this.latencies,
      ttlMs: config.membership.heartbeatTtlMs,
      loops: config.httpLoops,
    });
    // Built before the forwarding parts, which take its directory as the live nodes (members).
    // A worker-only replica serves no predictions: no node to forward to, and it forwards nothing.
    this.membership =
      config.redisUrl === undefined || config.mode === 'worker'
        ? undefined
        : new ClusterMembership({
            redisUrl: config.redisUrl,
            prefix: config.redisPrefix,
            report: this.nodeReport,
            intervalMs: config.membership.heartbeatMs,
            ttlMs: config.membership.heartbeatTtlMs,
            publish: options.publishHeartbeat ?? true,
            logger: this.logger,
          });
    this.forwarder = new UpstreamForwarder({ connections: config.forward.connections, timeoutMs: config.forward.timeoutMs });
    this.backends =
      options.backends === undefined && (existsSync(config.backends.file) || config.redisUrl !== undefined)
        ? new StaticBackends({
            file: config.backends.file,
            redis: config.redisUrl === undefined ? undefined : { url: config.redisUrl, prefix: config.redisPrefix },
            probeIntervalMs: config.backends.probeIntervalMs,
            probeTimeoutMs: config.backends.probeTimeoutMs,
            healthyAfterPasses: config.backends.healthyAfterPasses,
            logger: this.logger,
          })
        : undefined;
    const backends = options.backends ?? this.backends;
    const members = options.members ?? this.membership?.directory;
    this.remote =
      members || backends
        ? new RemoteCatalog({ members, backends, forwarder: this.forwarder, localId: config.membership.nodeId })
        : undefined;
    const remote = this.remote;
    this.routeSource = createRouteSource({
      ...(config.redisUrl === undefined ? {} : { redisUrl: config.redisUrl }),
      redisPrefix: config.redisPrefix,
      routesFile: config.routesFile,
    });
    this.router = new Router({
      source: this.routeSource,
      // Versions only other nodes or backends have route as well (a front with an empty repository).
      servableVersions: remote
        ? (model) => withVersions(this.registry.servableVersions(model), remote.versionsOf(model))
        : (model) => this.registry.servableVersions(model),
      knownVersions: remote
        ? (model) => withVersions(this.registry.knownVersions(model), remote.versionsOf(model))
        : (model) => this.registry.knownVersions(model),
      describeVersion: (model, version) => {
        const status = this.registry.status(model, version);
        return status && `${status.state}${status.reason ? ` (${status.reason})` : ''}`;
      },
      cacheTtlMs: config.routeCacheTtlMs,
      maxAgeMs: config.routeMaxAgeMs,
    });
    this.jobs =
      config.redisUrl === undefined
        ? undefined
        : new PredictionQueue({
            redisUrl: config.redisUrl,
            prefix: config.redisPrefix,
            retention: { ageSeconds: config.jobs.retentionSeconds, count: config.jobs.retentionCount },
            pendingLimits: { maxJobs: config.jobs.maxPending, maxBytes: config.jobs.maxPendingBytes },
          });
    const jobs = this.jobs;
    this.#jobCounts =
      config.metricsEnabled && jobs
        ? new BackgroundReading({
            read: () => jobs.counts(),
            intervalMs: config.metricsRedisRefreshMs,
            // The queue bounds each operation itself (3 s); this only guards against one that never settles.
            timeoutMs: 5_000,
            onError: (error) => this.logger.debug({ err: error }, 'job counts for metrics not read; keeping the last known ones'),
          })
        : undefined;
    this.metrics = config.metricsEnabled ? this.#createMetrics() : undefined;
    this.upstreamHealth = options.upstreamHealth ?? new UpstreamHealthTracker({ ...config.upstreamHealth, observer: this.metrics });
    this.retryBudget = options.retryBudget ?? new SlidingRetryBudget({ ...config.retryBudget, observer: this.metrics });
    // A backend URL that left takes its ejections and breaker with it (a new one starts healthy).
    const health = this.upstreamHealth;
    this.backends?.onTargetsRemoved((ids) => {
      for (const id of ids) health.forget(id);
    });
    this.policies = new BatchingPolicyCache({ configs: this.configs, versions: this.registry });
    this.scheduler = new DynamicBatcher({
      leases: this.registry,
      policyFor: (model, version) => this.policies.policyFor(model, version),
      observer: this.metrics,
      // Queues and counters of unloaded versions are dropped (as are their policies and series).
      versions: this.registry,
    });
    this.#loadCounters = options.httpScheduler?.(this.scheduler, this.registry) ?? this.scheduler;
    this.cluster = new ClusterScheduler({
      // Local requests are timed for the heartbeat's p50/p99 (forwarded ones are the other node's).
      local: this.latencies.timing(this.#loadCounters),
      nodeId: config.membership.nodeId,
      localReady: (model, version) => this.registry.status(model, version)?.servable === true,
      localKnown: (model, version) => this.registry.status(model, version) !== undefined,
      localQueued: (model, version) => this.scheduler.queued(model, version),
      forwarder: this.forwarder,
      members,
      backends,
      health: this.upstreamHealth,
      retryBudget: this.retryBudget,
      ...(remote ? { onInputRefused: (model: string, version: number) => void remote.invalidate(model, version) } : {}),
      observer: this.metrics,
    });
    this.shadow = new ShadowMirror({
      scheduler: this.cluster,
      servable: (model, version) => this.registry.status(model, version)?.servable === true || remote?.versionsOf(model).includes(version) === true,
      // Shadows may fill half of a version's queue at most: the other half is always real traffic's.
      queueFull: (model, version) => this.scheduler.queued(model, version) * 2 >= this.policies.policyFor(model, version).maxQueueSize,
      maxConcurrency: config.shadow.maxConcurrency,
      timeoutMs: config.shadow.timeoutMs,
      tolerance: (model) => {
        const own = this.configs.get(model);
        return { rtol: own.shadow_rtol ?? config.shadow.rtol, atol: own.shadow_atol ?? config.shadow.atol };
      },
    });
    this.registry.on('unloaded', (e) => this.shadow.forget(e.name, e.version));
    this.jobWorker =
      config.redisUrl === undefined || config.jobs.concurrency === 0
        ? undefined
        : new PredictionWorker({
            redisUrl: config.redisUrl,
            prefix: config.redisPrefix,
            execute: createPredictionExecutor({ versions: this.registry, scheduler: this.scheduler }),
            concurrency: config.jobs.concurrency,
            lockDurationMs: config.jobs.lockMs,
            stalledIntervalMs: config.jobs.stalledIntervalMs,
            maxStalledCount: config.jobs.maxStalled,
            maxResultBytes: config.jobs.maxResultBytes,
            logger: this.logger,
            observer: this.metrics,
          });
    this.rollouts =
      config.redisUrl === undefined || config.mode === 'worker'
        ? undefined
        : new Rollouts({
            redisUrl: config.redisUrl,
            prefix: config.redisPrefix,
            routes: this.routeSource,
            versions: this.registry,
            // This process's own traffic (see src/rollouts/rollout-driver.ts on several replicas).
            latency: (model, version) => this.scheduler.latency(model, version),
            nodeId: config.membership.nodeId,
            logger: this.logger,
            observer: this.metrics,
            minIntervalMs: config.rolloutMinIntervalMs,
          });
    const limits = config.rateLimits;
    this.rateLimits =
      limits.client || limits.model || config.redisUrl !== undefined
        ? new RateLimits({
            client: limits.client,
            model: limits.model,
            redis: config.redisUrl === undefined ? undefined : { url: config.redisUrl, prefix: config.redisPrefix },
            overrideTtlMs: limits.overrideTtlMs,
            logger: this.logger,
            acrossLoops: config.httpLoops > 1,
          })
        : undefined;
    this.http = createHttpApp({
      catalog: this.registry,
      resolver: this.router,
      scheduler: this.cluster,
      remote: this.remote,
      gate: this.gate,
      readiness: () => this.readiness(),
      modelConfig: (name) => ({ config: this.configs.get(name), error: this.configs.error(name) }),
      logger: this.logger,
      bodyLimitBytes: config.bodyLimitBytes,
      // The V2 repository extension: load what is on disk, through the registry.
      repository: this.repository,
      loader: options.repositoryLoader?.(this.registry) ?? this.registry,
      // The admin API writes routes through the source, which validates and publishes them.
      routeStore: this.routeSource,
      adminToken: config.adminToken,
      metrics: this.metrics,
      apiKeys: config.apiKeys,
      rateLimits: this.rateLimits,
      trustedProxies: config.trustedProxies,
      shadow: this.shadow,
      jobs: this.jobs,
      rollouts: this.rollouts,
      serveApi: config.mode !== 'worker',
      cluster: { self: () => this.nodeReport.current(), members: this.membership?.directory },
      nodeId: config.membership.nodeId,
    });
    this.#logLifecycle();
  }

  /** Builds, listens and scans the repository; resolves once the initial versions have loaded. */
  static async start(config: Config, options: SwitchyardOptions = {}): Promise<Switchyard> {
    const gateway = new Switchyard(config, options);
    await gateway.listen();
    await gateway.loadRepository();
    return gateway;
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on config.port; rejects, never hangs, when the address is taken or not allowed. */
  listen(): Promise<void> {
    const { port, host, http } = this.config;
    // Plain HTTP/1.1 (no createServer override), so this is a node:http Server.
    const server = createAdaptorServer({
      fetch: this.http.fetch,
      hostname: host,
      serverOptions: {
        // Slow or stalled clients (a body trickling a byte at a time) get 408 instead of holding a socket.
        headersTimeout: http.headersTimeoutMs,
        requestTimeout: http.requestTimeoutMs,
        // Node checks both timeouts on this interval (default 30 s, which would stretch them).
        connectionsCheckingInterval: Math.min(1_000, http.headersTimeoutMs),
      },
    }) as Server;
    this.#server = server;
    this.#connections = new ConnectionDrainer(server);
    this.#jobCounts?.start();
    void this.backends?.start();
    this.membership?.start();
    return new Promise((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => reject(listenError(error, host, port));
      server.once('error', failed);
      server.listen(port, host, () => {
        server.off('error', failed);
        // Only now is the bound port (PORT=0) known for the advertised URL.
        if (!this.gate.closing && !this.#leaving) this.membership?.announce();
        resolve();
      });
    });
  }

  async loadRepository(): Promise<void> {
    // Readiness needs the routing source reachable once; after that a lost Redis only degrades.
    // Shared rate limit counters from the first request when Redis answers (else per-replica counts).
    const rateLimitsReady = this.rateLimits?.ready(3_000);
    await Promise.race([this.routeSource.ready().catch(() => undefined), new Promise((r) => setTimeout(r, 3_000).unref())]);
    await rateLimitsReady;
    this.readiness();
    await this.sync.start();
    await this.sync.whenIdle();
    this.#initialLoadDone = true;
    this.logger.info({ models: this.registry.models() }, 'repository scanned');
    // Rollouts are judged against versions that must be loaded here first.
    if (!this.gate.closing) this.rollouts?.driver.start();
    // Jobs only once the versions they name can be found here (else they would fail as "gone").
    if (this.jobWorker && !this.gate.closing) {
      this.jobWorker.start();
      this.logger.info({ concurrency: this.config.jobs.concurrency, mode: this.config.mode }, 'job worker started');
    }
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.gate.closing) reasons.push('closing: the gateway is shutting down');
    else if (this.#leaving) reasons.push('closing: left the cluster; taking requests until peers notice, then draining');
    if (!this.#initialLoadDone) reasons.push('repository: initial scan and loads not finished');
    const source = this.router.status().source;
    if (source.connected) this.#routingEverConnected = true;
    else if (!this.#routingEverConnected) {
      reasons.push(`routing: ${source.kind} source not reachable yet${source.lastError ? ` (${source.lastError})` : ''}`);
    }
    return { ready: reasons.length === 0, reasons, warnings: [...this.#routingWarnings(), ...this.#membershipWarnings(), ...this.#backendWarnings()] };
  }

  /** A node set that could not be read again degrades (the last known set serves); it never makes a replica unready. */
  #membershipWarnings(): string[] {
    const directory = this.membership?.directory;
    // Before a first read there is no set to keep (and a Redis never reached is a routing reason already).
    if (!directory?.stale || directory.lastReadAt === undefined) return [];
    const known = directory.nodes().length;
    return [`cluster: the node heartbeats could not be read from Redis (${directory.lastError ?? 'unknown error'}); the last known ${known} node${known === 1 ? '' : 's'} are kept`];
  }

  /** Each READY version with this node's work of it: running = accepted and unanswered (every loop's) minus queued here. */
  *#versionLoads(): Iterable<VersionLoad> {
    for (const model of this.registry.models()) {
      for (const version of this.registry.servableVersions(model)) {
        const c = this.#loadCounters.counters?.(model, version);
        const queued = this.scheduler.queued(model, version);
        const outstanding = c ? c.requests - c.successes - c.failures - c.rejectedDeadline - c.cancelled : queued;
        yield { model, version, inFlight: Math.max(0, outstanding - queued), queued };
      }
    }
  }

  /** Static backends that cannot be read now: the last good set serves, so a warning, never unready. */
  #backendWarnings(): string[] {
    const backends = this.backends;
    if (!backends) return [];
    const warnings: string[] = [];
    if (backends.stale) warnings.push('backends: Redis could not be read; the last good set of backends serves');
    const refused = backends.refused();
    for (const { source, name, reason } of refused.slice(0, MAX_WARNINGS)) {
      // The reasons of a whole file name it already.
      const where = source === 'file' ? 'the backends file' : 'Redis';
      warnings.push(name === '' ? `backends: ${where} is refused (${reason}); the last good set serves` : `backends: backend "${name}" in ${where} is refused (${reason}); its last good version, if any, serves`);
    }
    if (refused.length > MAX_WARNINGS) warnings.push(`backends: ... and ${refused.length - MAX_WARNINGS} more refused`);
    return warnings;
  }

  /** What is wrong with routing that does not make a replica unready (one broken table must not take every replica out). */
  #routingWarnings(): string[] {
    const { issues, stale } = this.router.status();
    const warnings: string[] = [];
    for (const issue of issues) {
      if (issue.unreadable !== undefined) warnings.push(`routing: ${issue.unreadable}; the last good table serves`);
      for (const problem of issue.problems) {
        warnings.push(`routing: route "${problem.alias}" of model "${issue.model}" is invalid: target "${problem.target}" ${problem.reason}`);
      }
    }
    for (const table of stale) {
      warnings.push(`routing: the table of model "${table.model}" is older than ${this.config.routeMaxAgeMs} ms and could not be read again (${table.reason})`);
    }
    // Bounded: thousands of broken tables are for the metrics and the log, not one answer.
    return warnings.length > MAX_WARNINGS ? [...warnings.slice(0, MAX_WARNINGS), `... and ${warnings.length - MAX_WARNINGS} more`] : warnings;
  }

  /**
   * Ordered shutdown: readiness fails and new requests get 503 at once; accepted requests finish
   * (bounded by DRAIN_TIMEOUT_MS); the watcher stops; sessions are released; Redis is closed;
   * the listener closes. Safe to call twice (the second call gets the first one's result).
   */
  shutdown(): Promise<ShutdownReport> {
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  async #doShutdown(): Promise<ShutdownReport> {
    // With peers that may be sending here, leave first and keep answering for the grace; else
    // the gate closes at once (synchronously, as ever) and the heartbeat goes alongside.
    if (this.#peersMayBeSending()) await this.#leaveCluster();
    const started = performance.now();
    const left = () => Math.max(0, this.config.drainTimeoutMs - (performance.now() - started));
    this.logger.info({ inFlight: this.gate.inFlight }, 'shutdown: refusing new requests, draining');
    this.gate.close();
    // A draining replica serves nothing worth judging: another replica takes its rollouts over now.
    const rolloutsClosed = this.rollouts?.close();
    // Every response from now on says Connection: close, so keep-alive clients stop reusing it.
    this.#connections?.beginDrain();
    // No new connections; the open ones are answered and closed below. net.Server's close, not
    // http.Server's: since Node 19 the latter also closes idle keep-alive sockets at once, which
    // resets a client whose next request is already on its way.
    const server = this.#server;
    const listenerClosed = new Promise<void>((resolve) => (server ? NetServer.prototype.close.call(server, () => resolve()) : resolve()));
    // Peers stop choosing this node at their next read (a no-op when it left above).
    const leftCluster = this.membership?.leave();
    this.jobs?.endWaits(); // long-polls on /jobs/:id answer now rather than hold the drain
    // The watcher stops before the drain: a file change now must not start a load.
    this.sync.close();
    await this.repository.close();
    // The job worker takes no new jobs and finishes its running ones alongside the HTTP drain;
    // past the timeout it lets go of them, and another replica's stalled check picks them up.
    const jobsFinished = this.#closeJobWorker();
    await leftCluster;
    const accepted = await this.gate.drain(left());
    const written = (await this.#connections?.whenIdle(left())) ?? true;
    const drained = accepted && written && (await jobsFinished);
    const abandoned = this.gate.inFlight;
    if (!drained) this.logger.warn({ abandoned }, 'shutdown: drain timeout reached');
    await this.#closeConnections(drained, left);
    // Within what is left of the budget: a load hung in onnxruntime must not hold the shutdown.
    await this.registry.close({ timeoutMs: drained ? left() : 0 });
    // Runs are waited for (they end); a load gets what is left of the budget, at least the grace.
    this.#runtimeStopped = await this.runtime.close({ loadWaitMs: Math.max(left(), THREAD_STOP_GRACE_MS) });
    if (!this.#runtimeStopped) {
      this.logger.error('shutdown: an inference thread did not stop (stuck in a system call, e.g. a model file on a hung mount)');
    }
    await rolloutsClosed;
    await this.router.close();
    await this.routeSource.close();
    await this.rateLimits?.close();
    await this.membership?.close();
    await this.backends?.close();
    await this.forwarder.close();
    this.#jobCounts?.close();
    await this.jobs?.close();
    await listenerClosed;
    this.logger.info({ drained }, 'shutdown complete');
    return { drained, abandoned };
  }

  /**
   * The first step of a shutdown while other nodes are known (they may be sending here): the
   * heartbeat is deleted (bounded), so peers stop choosing this node at their next read of the
   * directory, and requests are still taken for NODE_LEAVE_GRACE_MS (readiness already fails), so
   * the ones peers send before they notice are answered rather than refused; then the drain
   * starts with its full DRAIN_TIMEOUT_MS.
   */
  async #leaveCluster(): Promise<void> {
    this.#leaving = true;
    await this.membership?.leave();
    const graceMs = this.config.membership.leaveGraceMs;
    this.logger.info({ event: 'node-leaving', peers: this.membership?.directory.nodes().length, graceMs }, 'shutdown: left the cluster; taking requests until peers notice');
    await new Promise((resolve) => setTimeout(resolve, graceMs));
  }

  /** True when a leave grace is set, other nodes are known, and this one has versions READY (what they would forward here; a pure front gets nothing). */
  #peersMayBeSending(): boolean {
    if (this.config.membership.leaveGraceMs === 0 || (this.membership?.directory.nodes().length ?? 0) === 0) return false;
    return this.registry.models().some((model) => this.registry.servableVersions(model).length > 0);
  }

  /**
   * After shutdown(): false when an inference thread could not be stopped (still inside a model
   * load past the budget, possibly stuck in a system call no JS can interrupt, such as opening a
   * model file on a hung network mount). Node's exit waits for every thread, so the process must
   * then be killed instead (src/main.ts does).
   */
  get runtimeStopped(): boolean | undefined {
    return this.#runtimeStopped;
  }

  /**
   * Idle keep-alive sockets get a short grace in which a request that was already on its way is
   * answered (503, Connection: close) rather than reset; then they are closed. Sockets still
   * carrying a request are destroyed only when the drain timed out.
   */
  async #closeConnections(drained: boolean, left: () => number): Promise<void> {
    const connections = this.#connections;
    if (!connections) return;
    if (drained) await connections.whenIdle(Math.min(this.config.http.shutdownIdleGraceMs, left()), 'sockets-closed');
    connections.closeIdle();
    if (!drained) connections.destroyAll();
    else if (!(await connections.whenIdle(Math.max(left(), 1_000), 'sockets-closed'))) connections.destroyAll();
  }

  /**
   * Stops at once, without a drain (a second signal). The inference threads are terminated
   * first, bounded: a process that exits while onnxruntime still runs on them dies of SIGABRT
   * instead of its exit code.
   */
  async abort(): Promise<void> {
    this.gate.close();
    await settlesWithin(this.runtime.close({ force: true }), THREAD_STOP_GRACE_MS);
  }

  /** True when the worker's running jobs finished within the drain timeout. */
  async #closeJobWorker(): Promise<boolean> {
    const worker = this.jobWorker;
    if (!worker) return true;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      worker.drain().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.config.drainTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) this.logger.warn('shutdown: running jobs did not finish in time; leaving them to another replica');
    await worker.close();
    return finished;
  }

  /** Metrics read the gate, the queues, the router and the job counts' last reading at scrape time, and follow the registry's events. */
  #createMetrics(): GatewayMetrics {
    const metrics = new GatewayMetrics({
      knownModel: (name) => this.registry.has(name) || this.remote?.has(name) === true,
      knownVersion: (name, version) => this.registry.status(name, version) !== undefined || this.remote?.versionsOf(name).includes(version) === true,
      inFlight: () => this.gate.inFlight,
      queueDepths: () =>
        this.registry.models().flatMap((model) =>
          this.registry.knownVersions(model).map((version) => ({ model, version, depth: this.scheduler.queued(model, version) })),
        ),
      ...(this.#jobCounts ? { jobCounts: () => ({ counts: this.#jobCounts!.value, ageSeconds: this.#jobCounts!.ageSeconds() }) } : {}),
      ...(this.backends ? { backends: () => this.backends!.metricsView() } : {}),
      ...(this.config.redisUrl === undefined || this.config.mode === 'worker'
        ? {}
        : {
            membership: () => ({
              nodes: this.membership?.directory.nodes().length ?? 0,
              stale: this.membership?.directory.stale ?? false,
              heartbeatFailures: this.membership?.heartbeat?.failures ?? 0,
            }),
          }),
      shadow: () => this.shadow.all(),
      routing: () => {
        const { cache, source, issues, stale } = this.router.status();
        const errors = issues.map((issue) => ({ model: issue.model, count: issue.problems.length + (issue.unreadable === undefined ? 0 : 1) }));
        return { hits: cache.hits, misses: cache.misses, source: source.kind, connected: source.connected, errors, stale: stale.length };
      },
    });
    metrics.observeLifecycle(this.registry);
    return metrics;
  }

  #logLifecycle(): void {
    const log = this.logger;
    this.registry.on('loaded', (e) => log.info({ event: 'loaded', model: e.name, version: e.version, path: e.path, reload: e.reload }, 'model loaded'));
    this.registry.on('swapped', (e) => log.info({ event: 'swapped', model: e.name, version: e.version, path: e.path }, 'model swapped'));
    this.registry.on('failed', (e) =>
      log.error({ event: 'failed', model: e.name, version: e.version, path: e.path, reason: e.reason, serving: e.serving }, 'model load failed'),
    );
    this.registry.on('warmup-failed', (e) =>
      log.warn(
        { event: 'warmup-failed', model: e.name, version: e.version, path: e.path, reason: e.reason },
        'generated warmup failed; the version serves anyway (ship warmup samples, or set "warmup": "required" to refuse it)',
      ),
    );
    this.registry.on('unloaded', (e) => log.info({ event: 'unloaded', model: e.name, version: e.version }, 'model unloaded'));
    this.registry.on('error', (error) => log.error({ err: error }, 'registry error'));
    this.routeSource.onChange((model) =>
      log.info({ event: 'route-changed', ...(model === undefined ? { scope: 'all' } : { model }) }, 'routes changed'),
    );
    // Once per change of a table, never per request.
    this.router.on('issues', ({ model, unreadable, problems }) => {
      if (unreadable === undefined && problems.length === 0) log.info({ event: 'route-issues-resolved', model }, 'routing table is sound again');
      else log.warn({ event: 'route-issues', model, unreadable, problems }, unreadable ? 'routing table can not be read; the last good one serves' : 'routing table has aliases that can not route');
    });
    this.router.on('stale', ({ model, stale, reason }) => {
      if (stale) log.warn({ event: 'route-stale', model, reason, maxAgeMs: this.config.routeMaxAgeMs }, 'routing table could not be read again; serving the last known one');
      else log.info({ event: 'route-fresh', model }, 'routing table read again');
    });
    this.configs.on('changed', (e) => log.info({ event: 'config-changed', model: e.name, config: e.config, reload: e.sessionSettingsChanged }, 'model config applied'));
    this.configs.on('invalid', (e) => log.error({ event: 'config-invalid', model: e.name, reason: e.reason }, 'model config refused; the previous one stays'));
  }
}

/** Two ascending version lists as one, ascending, each version once. */
function withVersions(own: readonly number[], others: readonly number[]): number[] {
  if (others.length === 0) return [...own];
  return [...new Set([...own, ...others])].sort((a, b) => a - b);
}

/** Most warnings one /readyz answer lists. */
const MAX_WARNINGS = 20;

/** A listen failure as a message an operator can act on. */
/** How long a model load may still take at shutdown, past the drain budget if that is spent (and how long abort() waits). */
const THREAD_STOP_GRACE_MS = 2_000;

function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  const why =
    error.code === 'EADDRINUSE'
      ? 'the address is already in use (another process listens there: stop it or set PORT)'
      : error.code === 'EACCES'
        ? 'permission denied (ports below 1024 need privileges: set PORT)'
        : error.code === 'EADDRNOTAVAIL'
          ? 'the address is not on this machine (set HOST)'
          : error.message;
  return Object.assign(new Error(`cannot listen on ${where}: ${why}`), { code: error.code, cause: error });
}
