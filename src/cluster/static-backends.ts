/**
 * Static V2 backends: servers that are not Switchyard (Triton, KServe, MLServer) listed by an
 * operator, and which of their URLs may be sent a (model, version) now, as active probes say.
 *
 * Two sources, one namespace of names:
 * - the file (BACKENDS_FILE, default config/backends.json): `{"<name>": <entry>}`, watched (and
 *   stat'ed about every second, for a save the watcher missed); a missing file is no backends;
 * - with Redis, one key per backend, `<prefix>backends:<name>`, holding the entry as a JSON string
 *   (`SET`), read again about every second. A name in both: the Redis entry wins.
 *
 * An entry that does not pass the check (src/cluster/backend-entry.ts) is refused with a log line
 * naming it and why; its last good version (if any) and every other entry stay. A file that can
 * not be read as a whole (not JSON, too large, half saved) keeps every last good entry; so does a
 * Redis that is down or hung (each command is bounded, and so is each refresh).
 *
 * Probes: every BACKEND_PROBE_INTERVAL_MS each URL gets `GET /v2/health/ready`, then, if that
 * passed, `GET /v2/models/<m>/versions/<v>/ready` for each version its entry lists (a 2xx within
 * BACKEND_PROBE_TIMEOUT_MS passes; anything else, redirects included, fails). A URL or version
 * starts unhealthy and its first pass admits it; a failure takes it out at once, and after that
 * it needs BACKEND_HEALTHY_AFTER_PASSES consecutive passes to come back. A failed readiness probe
 * takes every version of that URL out with it. targetsFor lists only URL+version pairs that are
 * both healthy, from an index rebuilt on each change, so the request path pays a Map lookup.
 *
 * describe() answers one row per (backend, URL): `healthy` is the URL's readiness probe, `models`
 * what the entry lists, `versions` (beyond the shared contract) each version's own probe state.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { closeRedisConnection } from '../redis-connection-close.js';
import { settlesWithin } from '../settles-within.js';
import { failProbe, newProbeState, probeUrl, recordProbe, type ProbeState } from './backend-probe.js';
import { backendEntryFingerprint, parseBackendEntry, type BackendEntry } from './backend-entry.js';
import type { BackendTargets, UpstreamTarget } from './cluster-types.js';

export const DEFAULT_BACKENDS_FILE = 'config/backends.json';
/** Most backends kept (both sources together); the rest are refused by name, in name order. */
export const MAX_BACKENDS = 64;
/** Largest backends file, and largest Redis value, read. */
export const MAX_BACKENDS_BYTES = 1024 * 1024;
/** Most (backend, URL) pairs that get their own metric series; the rest are only in the totals. */
export const MAX_BACKEND_METRIC_URLS = 256;
/** SCAN calls one Redis refresh may make (COUNT 1000 each): a keyspace larger than that fails the refresh. */
const MAX_SCAN_CALLS = 1000;

export interface StaticBackendsOptions {
  /** The backends file. Default `config/backends.json` (relative to the working directory). */
  readonly file?: string;
  /** Re-read the file when it changes. Default true. */
  readonly watch?: boolean;
  /** With watch, how often the file is also stat'ed for a change the watcher missed. Default 1000 ms. */
  readonly fileCheckMs?: number;
  /** Redis to read `<prefix>backends:<name>` keys from. Default none (the file only). */
  readonly redis?: { readonly url: string; readonly prefix: string } | undefined;
  /** How often the Redis keys are read again. Default 1000 ms. */
  readonly refreshMs?: number;
  /** Bound on each Redis command. Default 500 ms. */
  readonly redisCommandTimeoutMs?: number;
  /** Time between the end of one probe round and the start of the next. Default 5000 ms. */
  readonly probeIntervalMs?: number;
  /** Bound on each probe request. Default 1000 ms. */
  readonly probeTimeoutMs?: number;
  /** Consecutive passes that bring a URL or version back after a failed probe. Default 2. */
  readonly healthyAfterPasses?: number;
  /** Probe requests in flight at once, over every URL. Default 8. */
  readonly probeConcurrency?: number;
  /** Default: nothing is logged. */
  readonly logger?: Logger | undefined;
}

interface VersionState extends ProbeState {
  readonly model: string;
  readonly version: number;
}

interface UrlState {
  readonly name: string;
  readonly url: string;
  readonly id: string;
  weight: number;
  readonly ready: ProbeState;
  /** `model\0version` -> its state. */
  versions: Map<string, VersionState>;
  probeFailures: number;
  lastProbeAt: number | undefined;
  lastError: string | undefined;
}

/** One row of describe(). */
export interface BackendUrlView {
  readonly name: string;
  readonly url: string;
  readonly healthy: boolean;
  readonly models: Record<string, readonly number[]>;
  readonly lastProbeAt?: number | undefined;
  readonly lastError?: string | undefined;
  /** Each listed version's own probe state at this URL (targetsFor needs it and `healthy`). */
  readonly versions: ReadonlyArray<{ readonly model: string; readonly version: number; readonly healthy: boolean; readonly lastError?: string | undefined }>;
}

/** For metrics: one row per (backend, URL), capped at MAX_BACKEND_METRIC_URLS, plus totals. */
export interface BackendMetricsView {
  readonly urls: ReadonlyArray<{ readonly name: string; readonly url: string; readonly healthy: boolean; readonly probeFailures: number }>;
  readonly healthy: number;
  readonly unhealthy: number;
}

type Source = 'file' | 'redis';

export class StaticBackends implements BackendTargets {
  readonly file: string;
  readonly #options: StaticBackendsOptions;
  readonly #log: Logger | undefined;
  readonly #healthyAfter: number;
  readonly #probeTimeoutMs: number;
  readonly #abort = new AbortController();

  /** Last good entries of each source. */
  #fileEntries = new Map<string, BackendEntry>();
  #redisEntries = new Map<string, BackendEntry>();
  /** What the two sources give together. */
  #entries = new Map<string, BackendEntry>();
  /** `source\0name` (name '' = the source as a whole) -> the reason it was last refused, to log each refusal once. */
  readonly #refused = new Map<string, string>();
  /** Names left out because file and Redis together list more than MAX_BACKENDS (logged once each). */
  #overCap = new Set<string>();
  readonly #urls = new Map<string, UrlState>();
  /** `model\0version` -> healthy targets; `model` -> versions with one. */
  #index = new Map<string, readonly UpstreamTarget[]>();
  #versionIndex = new Map<string, readonly number[]>();
  readonly #removedListeners = new Set<(ids: readonly string[]) => void>();

  #watcher: FSWatcher | undefined;
  #redis: Redis | undefined;
  #redisStale = false;
  #fileQueue: Promise<void> = Promise.resolve();
  #refreshTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #fileCheckTimer: NodeJS.Timeout | undefined;
  /** The file's identity (inode, size, mtime) at the last read, to notice a change its watcher missed. */
  #fileStamp: string | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #roundAgain = false;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: StaticBackendsOptions = {}) {
    this.#options = options;
    this.file = resolve(options.file ?? DEFAULT_BACKENDS_FILE);
    this.#log = options.logger;
    this.#healthyAfter = Math.max(1, options.healthyAfterPasses ?? 2);
    this.#probeTimeoutMs = options.probeTimeoutMs ?? 1000;
  }

  /**
   * Reads both sources once, starts watching and refreshing, and starts the probes (the first
   * round at once). Resolves once the sources were read (or failed to be); probes go on.
   */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  /** True while the last Redis refresh failed (the last good Redis entries are kept). */
  get stale(): boolean {
    return this.#redisStale;
  }

  targetsFor(model: string, version: number): readonly UpstreamTarget[] {
    return this.#index.get(`${model}\u0000${version}`) ?? NONE;
  }

  versionsOf(model: string): readonly number[] {
    return this.#versionIndex.get(model) ?? NO_VERSIONS;
  }

  describe(): readonly BackendUrlView[] {
    return [...this.#urls.values()].map((state) => {
      const entry = this.#entries.get(state.name);
      const models = Object.create(null) as Record<string, readonly number[]>;
      for (const [model, versions] of entry?.models ?? []) models[model] = versions;
      return {
        name: state.name,
        url: state.url,
        healthy: state.ready.healthy,
        models,
        lastProbeAt: state.lastProbeAt,
        lastError: state.lastError,
        versions: [...state.versions.values()].map((v) => ({ model: v.model, version: v.version, healthy: v.healthy && state.ready.healthy, lastError: v.lastError })),
      };
    });
  }

  metricsView(): BackendMetricsView {
    const all = [...this.#urls.values()];
    const healthy = all.filter((state) => state.ready.healthy).length;
    const urls = all
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, MAX_BACKEND_METRIC_URLS)
      .map((state) => ({ name: state.name, url: state.url, healthy: state.ready.healthy, probeFailures: state.probeFailures }));
    return { urls, healthy, unhealthy: all.length - healthy };
  }

  /**
   * What is refused now, for operators (GET /cluster, /readyz): per source, a backend name (or ''
   * for the file or Redis as a whole) and why; the last good version of each still serves.
   */
  refused(): ReadonlyArray<{ readonly source: 'file' | 'redis'; readonly name: string; readonly reason: string }> {
    const refused = [...this.#refused].map(([key, reason]) => {
      const [source = 'file', name = ''] = key.split('\u0000');
      return { source: source as Source, name, reason };
    });
    for (const name of this.#overCap) refused.push({ source: this.#redisEntries.has(name) ? 'redis' : 'file', name, reason: `more than ${MAX_BACKENDS} backends are listed` });
    return refused;
  }

  /** Called with the target ids of URLs that left (backend removed or edited), e.g. to forget their health. */
  onTargetsRemoved(listener: (ids: readonly string[]) => void): () => void {
    this.#removedListeners.add(listener);
    return () => this.#removedListeners.delete(listener);
  }

  /** Stops watching, refreshing and probing (in-flight probes are aborted) and closes Redis. Safe twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      clearTimeout(this.#refreshTimer);
      clearTimeout(this.#settleTimer);
      clearTimeout(this.#fileCheckTimer);
      clearTimeout(this.#probeTimer);
      this.#removedListeners.clear();
      await this.#watcher?.close();
      if (this.#redis) await closeRedisConnection(this.#redis);
      await settlesWithin(Promise.all([this.#round, this.#fileQueue]), this.#probeTimeoutMs + 1000);
    })();
    return this.#closed;
  }

  async #start(): Promise<void> {
    const fileRead = this.#enqueueFileRead();
    if (this.#options.watch ?? true) {
      const watcher = watch(this.file, { ignoreInitial: true, persistent: false });
      watcher.on('all', () => {
        void this.#enqueueFileRead();
        // Watchers drop events while re-arming after an atomic save (rename): a second read shortly after.
        clearTimeout(this.#settleTimer);
        this.#settleTimer = setTimeout(() => void this.#enqueueFileRead(), 250);
        this.#settleTimer.unref();
      });
      watcher.on('error', (error) => this.#refuse('file', '', `watching ${this.file}: ${messageOf(error)}`));
      this.#watcher = watcher;
      this.#checkFileLater();
      await settlesWithin(new Promise<void>((ready) => watcher.once('ready', () => ready())), 5_000);
    }
    await fileRead;
    const redis = this.#options.redis;
    if (redis && !this.#closed) {
      const timeout = this.#options.redisCommandTimeoutMs ?? 500;
      this.#redis = new Redis(redis.url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: timeout,
        connectTimeout: 2_000,
        retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 1000),
        connectionName: 'switchyard-backends',
      });
      this.#redis.on('error', () => undefined); // a refresh that fails says why
      // The first read waits briefly for the connection, so boot sees the Redis entries.
      await settlesWithin(new Promise<void>((ready) => this.#redis!.once('ready', () => ready())), 2_000);
      await this.#refreshRedis();
    }
    if (this.#closed) return;
    this.#probeRound();
  }

  #enqueueFileRead(): Promise<void> {
    this.#fileQueue = this.#fileQueue.then(() => this.#readFile()).catch((error: unknown) => {
      this.#log?.error({ err: error, event: 'backends-file-error' }, 'reading the backends file failed');
    });
    return this.#fileQueue;
  }

  /**
   * A stat about every second, as a net under the watcher: watchers can drop the event of a save
   * that lands while they re-arm after a rename, and that edit would otherwise wait for the next one.
   */
  #checkFileLater(): void {
    this.#fileCheckTimer = setTimeout(async () => {
      if (this.#closed) return;
      const stamp = await stat(this.file).then(stampOf, (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? 'absent' : undefined));
      if (stamp !== undefined && stamp !== this.#fileStamp) await this.#enqueueFileRead();
      this.#checkFileLater();
    }, this.#options.fileCheckMs ?? 1000);
    this.#fileCheckTimer.unref();
  }

  async #readFile(): Promise<void> {
    if (this.#closed) return;
    let text: string;
    try {
      const info = await stat(this.file);
      this.#fileStamp = stampOf(info);
      if (info.size > MAX_BACKENDS_BYTES) throw new Error(`${this.file} is ${info.size} bytes, more than the ${MAX_BACKENDS_BYTES} read`);
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#fileStamp = 'absent';
        this.#sourceFine('file');
        this.#fileEntries = this.#check('file', new Map(), this.#fileEntries);
        this.#apply();
        return;
      }
      this.#refuse('file', '', (error as NodeJS.ErrnoException).code ? `reading ${this.file}: ${messageOf(error)}` : messageOf(error));
      return;
    }
    // Editors often truncate before writing: an empty file is a save in progress.
    if (text.trim() === '') return this.#refuse('file', '', `${this.file} is empty (write {} for no backends)`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      return this.#refuse('file', '', `${this.file} is not valid JSON: ${messageOf(error)}`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      return this.#refuse('file', '', `${this.file} is not {"<backend name>": {"urls": [...], "models": {...}}}`);
    }
    this.#sourceFine('file');
    this.#fileEntries = this.#check('file', new Map(Object.entries(json)), this.#fileEntries);
    this.#apply();
  }

  /** One Redis read: every `<prefix>backends:*` key, bounded; a failure keeps the last good entries. */
  async #refreshRedis(): Promise<void> {
    const redis = this.#redis;
    const prefix = this.#options.redis?.prefix;
    if (!redis || prefix === undefined || this.#closed) return;
    const keyPrefix = `${prefix}backends:`;
    const timeout = this.#options.redisCommandTimeoutMs ?? 500;
    let raw: Map<string, unknown> | undefined;
    let failure: string | undefined;
    const read = (async () => {
      if (redis.status !== 'ready') throw new Error(`Redis is not connected (the connection is ${redis.status})`);
      const keys = new Set<string>();
      let cursor = '0';
      let calls = 0;
      do {
        if (++calls > MAX_SCAN_CALLS) throw new Error(`more than ${MAX_SCAN_CALLS * 1000} keys to scan under "${prefix}"`);
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${escapeGlob(keyPrefix)}*`, 'COUNT', 1000);
        cursor = next;
        for (const key of batch) keys.add(key);
      } while (cursor !== '0');
      const sorted = [...keys].sort();
      const pipeline = redis.pipeline();
      // At most one byte past the cap comes back, so a huge value costs no more than that.
      for (const key of sorted) pipeline.getrangeBuffer(key, 0, MAX_BACKENDS_BYTES);
      const replies = (await pipeline.exec()) ?? [];
      const values = new Map<string, unknown>();
      sorted.forEach((key, index) => {
        const [error, value] = replies[index] ?? [new Error('no reply')];
        values.set(key.slice(keyPrefix.length), error ? new RefusedValue(`key "${key}" ${isWrongType(error) ? 'is not a string (SET it to a JSON object)' : `could not be read: ${messageOf(error)}`}`) : decodeValue(key, value as Buffer));
      });
      return values;
    })();
    read.catch(() => undefined);
    // Commands are bounded by the command timeout; this bounds the whole refresh (many SCAN calls).
    const settled = await settlesWithin(read.then((values) => (raw = values), (error: unknown) => (failure = messageOf(error))), Math.max(2_000, timeout * 4));
    if (this.#closed) return;
    if (!settled || raw === undefined) {
      const reason = failure ?? 'Redis did not answer in time';
      if (!this.#redisStale) this.#log?.warn({ event: 'backends-redis-stale', reason }, 'backends could not be read from Redis; keeping the last good set');
      this.#redisStale = true;
    } else {
      if (this.#redisStale) this.#log?.info({ event: 'backends-redis-fresh' }, 'backends read from Redis again');
      this.#redisStale = false;
      this.#redisEntries = this.#check('redis', raw, this.#redisEntries);
      this.#apply();
    }
    this.#refreshTimer = setTimeout(() => void this.#refreshRedis(), this.#options.refreshMs ?? 1000);
    this.#refreshTimer.unref();
  }

  /**
   * The entries of one source as read now, checked one by one: a good one replaces its old
   * version, a bad one is refused (logged once per reason) and its last good version stays.
   */
  #check(source: Source, raw: Map<string, unknown>, previous: ReadonlyMap<string, BackendEntry>): Map<string, BackendEntry> {
    const next = new Map<string, BackendEntry>();
    const names = [...raw.keys()].sort();
    for (const [index, name] of names.entries()) {
      const value = raw.get(name);
      let entry: BackendEntry;
      try {
        if (index >= MAX_BACKENDS) throw new Error(`more than ${MAX_BACKENDS} backends are listed`);
        if (value instanceof RefusedValue) throw new Error(value.reason);
        entry = parseBackendEntry(name, value);
      } catch (error) {
        this.#refuse(source, name, messageOf(error));
        const kept = previous.get(name);
        if (kept) next.set(name, kept);
        continue;
      }
      const key = `${source}\u0000${name}`;
      if (this.#refused.delete(key)) this.#log?.info({ event: 'backend-accepted', backend: name, source }, `backend "${name}" accepted again`);
      next.set(name, entry);
    }
    // Refusals of names that are gone are forgotten (a new bad entry of that name is logged again).
    for (const key of this.#refused.keys()) {
      const [of, name = ''] = key.split('\u0000');
      if (of === source && name !== '' && !raw.has(name)) this.#refused.delete(key);
    }
    return next;
  }

  #refuse(source: Source, name: string, reason: string): void {
    const key = `${source}\u0000${name}`;
    if (this.#refused.get(key) === reason) return;
    this.#refused.set(key, reason);
    if (name === '') this.#log?.error({ event: 'backends-refused', source, file: source === 'file' ? this.file : undefined, reason }, `backends ${source === 'file' ? 'file' : 'in Redis'} refused; the last good set stays: ${reason}`);
    else this.#log?.error({ event: 'backend-refused', backend: name, source, reason }, `backend "${name}" refused; its last good version (if any) stays: ${reason}`);
  }

  #sourceFine(source: Source): void {
    if (this.#refused.delete(`${source}\u0000`)) this.#log?.info({ event: 'backends-accepted', source }, `backends ${source} read again`);
  }

  /** Merges the sources, keeps the probe state of every URL and version that stayed, and reindexes. */
  #apply(): void {
    if (this.#closed) return;
    const both = new Map(this.#fileEntries);
    for (const [name, entry] of this.#redisEntries) both.set(name, entry);
    // Each source is capped on its own; together they are capped again, in name order.
    const merged = new Map<string, BackendEntry>();
    const overCap = new Set<string>();
    for (const name of [...both.keys()].sort()) {
      if (merged.size < MAX_BACKENDS) merged.set(name, both.get(name)!);
      else overCap.add(name);
    }
    for (const name of overCap) {
      if (!this.#overCap.has(name)) this.#log?.error({ event: 'backend-refused', backend: name, reason: `more than ${MAX_BACKENDS} backends (file and Redis together)` }, `backend "${name}" refused: more than ${MAX_BACKENDS} backends are listed`);
    }
    this.#overCap = overCap;
    const before = new Map([...this.#entries].map(([name, entry]) => [name, backendEntryFingerprint(entry)]));
    const changed = [...new Set([...before.keys(), ...merged.keys()])].filter((name) => {
      const entry = merged.get(name);
      return before.get(name) !== (entry && backendEntryFingerprint(entry));
    });
    if (changed.length === 0) return;
    this.#entries = merged;
    const wanted = new Set<string>();
    let added = false;
    for (const entry of this.#entries.values()) {
      for (const url of entry.urls) {
        const id = targetId(entry.name, url);
        wanted.add(id);
        let state = this.#urls.get(id);
        if (!state) {
          state = { name: entry.name, url, id, weight: entry.weight, ready: newProbeState(), versions: new Map(), probeFailures: 0, lastProbeAt: undefined, lastError: undefined };
          this.#urls.set(id, state);
          added = true;
        }
        state.weight = entry.weight;
        const versions = new Map<string, VersionState>();
        for (const [model, list] of entry.models) {
          for (const version of list) {
            const key = `${model}\u0000${version}`;
            const kept = state.versions.get(key);
            if (!kept) added = true;
            versions.set(key, kept ?? { model, version, ...newProbeState() });
          }
        }
        state.versions = versions;
      }
    }
    const removed = [...this.#urls.keys()].filter((id) => !wanted.has(id));
    for (const id of removed) this.#urls.delete(id);
    this.#log?.info({ event: 'backends-changed', changed, backends: [...this.#entries.keys()] }, 'static backends changed');
    this.#reindex();
    for (const listener of removed.length > 0 ? this.#removedListeners : []) {
      // A listener's bug must not stop the refresh loop that called it.
      try {
        listener(removed);
      } catch (error) {
        this.#log?.error({ err: error, event: 'backend-listener-error' }, 'a listener of removed backend targets failed');
      }
    }
    // New URLs or versions are probed now rather than at the next round.
    if (added && this.#started) this.#probeSoon();
  }

  #reindex(): void {
    const index = new Map<string, UpstreamTarget[]>();
    const versions = new Map<string, Set<number>>();
    for (const state of this.#urls.values()) {
      if (!state.ready.healthy) continue;
      const target: UpstreamTarget = Object.freeze({ id: state.id, kind: 'backend', baseUrl: state.url, reportedLoad: 0, weight: state.weight });
      for (const [key, version] of state.versions) {
        if (!version.healthy) continue;
        let list = index.get(key);
        if (!list) index.set(key, (list = []));
        list.push(target);
        let set = versions.get(version.model);
        if (!set) versions.set(version.model, (set = new Set()));
        set.add(version.version);
      }
    }
    for (const list of index.values()) Object.freeze(list);
    this.#index = index;
    this.#versionIndex = new Map([...versions].map(([model, set]) => [model, Object.freeze([...set].sort((a, b) => a - b))]));
  }

  #probeSoon(): void {
    if (this.#closed) return;
    if (this.#round) {
      this.#roundAgain = true;
      return;
    }
    clearTimeout(this.#probeTimer);
    this.#probeRound();
  }

  /** Probes every URL (bounded concurrency), then schedules the next round. */
  #probeRound(): void {
    if (this.#closed || this.#round) return;
    this.#round = (async () => {
      const queue = [...this.#urls.values()];
      const workers = Array.from({ length: Math.max(1, Math.min(this.#options.probeConcurrency ?? 8, queue.length)) }, async () => {
        for (let state = queue.shift(); state && !this.#closed; state = queue.shift()) await this.#probeUrl(state);
      });
      await Promise.all(workers);
    })()
      .catch((error: unknown) => this.#log?.error({ err: error, event: 'backend-probe-error' }, 'a backend probe round failed'))
      .finally(() => {
        this.#round = undefined;
        if (this.#closed) return;
        const again = this.#roundAgain;
        this.#roundAgain = false;
        this.#probeTimer = setTimeout(() => this.#probeRound(), again ? 0 : (this.#options.probeIntervalMs ?? 5000));
        this.#probeTimer.unref();
      });
  }

  async #probeUrl(state: UrlState): Promise<void> {
    let changed = false;
    const ready = await this.#probe(`${state.url}/v2/health/ready`);
    // The URL may have been removed (or closed) while the probe was out.
    if (this.#closed || this.#urls.get(state.id) !== state) return;
    state.lastProbeAt = Date.now();
    if (ready !== undefined) state.probeFailures++;
    changed = this.#record(state, state.ready, ready, 'backend URL') || changed;
    if (ready !== undefined) {
      state.lastError = `readiness: ${ready}`;
      // Nothing the server serves is usable while it is not ready; each version needs its passes again.
      for (const version of state.versions.values()) failProbe(version, `server not ready: ${ready}`, this.#healthyAfter);
    } else {
      let lastError: string | undefined;
      for (const version of [...state.versions.values()]) {
        const path = `/v2/models/${encodeURIComponent(version.model)}/versions/${version.version}/ready`;
        const failure = await this.#probe(state.url + path);
        if (this.#closed || this.#urls.get(state.id) !== state) return;
        if (failure !== undefined) {
          state.probeFailures++;
          lastError = `${version.model} v${version.version}: ${failure}`;
        }
        if (state.versions.get(`${version.model}\u0000${version.version}`) !== version) continue;
        changed = this.#record(state, version, failure, 'backend version') || changed;
      }
      state.lastError = lastError;
    }
    if (changed) this.#reindex();
  }

  /** One outcome for a URL's readiness or one of its versions; logs and answers a change of health. */
  #record(state: UrlState, subject: ProbeState | VersionState, failure: string | undefined, what: string): boolean {
    if (!recordProbe(subject, failure, this.#healthyAfter)) return false;
    const fields = { backend: state.name, url: state.url, ...('model' in subject ? { model: subject.model, version: subject.version } : {}) };
    if (subject.healthy) this.#log?.info({ event: 'backend-healthy', ...fields }, `${what} healthy`);
    else this.#log?.warn({ event: 'backend-unhealthy', ...fields, reason: failure }, `${what} unhealthy`);
    return true;
  }

  #probe(url: string): Promise<string | undefined> {
    return probeUrl(url, { timeoutMs: this.#probeTimeoutMs, signal: this.#abort.signal });
  }
}

const NONE: readonly UpstreamTarget[] = Object.freeze([]);
const NO_VERSIONS: readonly number[] = Object.freeze([]);

export function targetId(name: string, url: string): string {
  return `backend:${name}:${url}`;
}

function stampOf(info: { ino: number; size: number; mtimeMs: number }): string {
  return `${info.ino}:${info.size}:${info.mtimeMs}`;
}

/** A Redis value that could not be taken as an entry at all (wrong type, too large, not JSON). */
class RefusedValue {
  constructor(readonly reason: string) {}
}

function decodeValue(key: string, value: Buffer): unknown {
  if (value.length > MAX_BACKENDS_BYTES) return new RefusedValue(`key "${key}" holds more than ${MAX_BACKENDS_BYTES} bytes`);
  const text = value.toString('utf8');
  // Also what a key deleted since the SCAN reads as: its last good version stays until the next refresh drops it.
  if (text.trim() === '') return new RefusedValue(`key "${key}" is empty`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return new RefusedValue(`key "${key}" is not valid JSON: ${messageOf(error)}`);
  }
}

function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

/** SCAN MATCH treats these as pattern syntax; a prefix is literal. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
