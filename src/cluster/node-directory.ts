/**
 * The live nodes other than this one, as their heartbeats in Redis describe them (ClusterMembers).
 * Every NODE_HEARTBEAT_MS it reads every `<prefix>nodes:*` entry (SCAN then MGET, both bounded in
 * keys and time) and replaces its in-memory set; readers (the forwarder, GET /cluster) answer
 * from memory and never wait on Redis.
 *
 * - A node is out once its entry is gone (Redis expired it) or its heartbeatAt has not changed for
 *   longer than its TTL by this process's clock (an entry written without a TTL, or by a writer
 *   whose clock is off, can not keep a dead node in).
 * - A malformed entry (hostile or from another version) is skipped and logged once per value.
 * - Redis down or hung: the read fails within its bound, the last known set is kept (`stale`
 *   true, with the reason), and the next interval tries again.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { settlesWithin } from '../settles-within.js';
import type { ClusterMembers, NodeView, UpstreamTarget } from './cluster-types.js';
import { parseHeartbeat, type NodeHeartbeatRecord } from './node-heartbeat-record.js';

export interface NodeDirectoryOptions {
  /** The connection to read on (ideally with a command timeout and no offline queue). Required. */
  readonly redis: Redis;
  /** REDIS_PREFIX. Required. */
  readonly prefix: string;
  /** This node's id, left out of the set; undefined = keep every node (the CLI). */
  readonly selfId?: string | undefined;
  /** Time between two reads. Default 1000 ms. */
  readonly intervalMs?: number;
  /** Longest one whole read may take before it counts as failed. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** Most entries one read takes in; the rest are left out (and logged). Default 1000. */
  readonly maxNodes?: number;
  readonly logger?: Logger | undefined;
  /** Clock, epoch ms. Default Date.now. */
  readonly now?: () => number;
}

/** A node in the directory: its heartbeat, and when this process last saw that heartbeat change. */
interface Entry {
  readonly record: NodeHeartbeatRecord;
  readonly changedAt: number;
}

/** Keys asked for per SCAN step and per MGET. */
const BATCH = 200;
/** Distinct malformed values remembered (to log each once); beyond it they are logged again. */
const MAX_REMEMBERED_PROBLEMS = 1000;

export class NodeDirectory implements ClusterMembers {
  readonly #options: NodeDirectoryOptions;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #maxNodes: number;
  readonly #now: () => number;
  #entries = new Map<string, Entry>();
  #nodes: readonly NodeView[] = [];
  /** Targets by model and version, and versions by model, built with #nodes (the per-request lookups cost a map get). */
  #targets = new Map<string, readonly UpstreamTarget[]>();
  #versions = new Map<string, readonly number[]>();
  /** Earliest moment a node may have to be dropped (changedAt + TTL of the soonest); lookups before it skip the scan. */
  #nextExpiryAt = Infinity;
  #stale = false;
  #lastError: string | undefined;
  #lastReadAt: number | undefined;
  #reading: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #logged = new Set<string>();
  #skipped = 0;

  constructor(options: NodeDirectoryOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#maxNodes = options.maxNodes ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Reads at once, then every interval. Idempotent. */
  start(): void {
    if (this.#timer || this.#closed) return;
    const tick = () => {
      if (this.#closed) return;
      this.#timer = setTimeout(tick, this.#intervalMs);
      this.#timer.unref();
      void this.refresh();
    };
    tick();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  nodes(): readonly NodeView[] {
    this.#expire();
    return this.#nodes;
  }

  targetsFor(model: string, version: number): readonly UpstreamTarget[] {
    this.#expire();
    return this.#targets.get(versionKey(model, version)) ?? NONE;
  }

  versionsOf(model: string): readonly number[] {
    this.#expire();
    return this.#versions.get(model) ?? NONE;
  }

  get stale(): boolean {
    return this.#stale;
  }

  /** Why the last read failed, while stale. */
  get lastError(): string | undefined {
    return this.#stale ? this.#lastError : undefined;
  }

  /** Epoch ms of the last successful read; undefined before the first. */
  get lastReadAt(): number | undefined {
    return this.#lastReadAt;
  }

  /** Malformed entries skipped so far (one per read that met them). */
  get skipped(): number {
    return this.#skipped;
  }

  /**
   * One read of every heartbeat; resolves when done (it never rejects: a failure marks the set
   * stale). Concurrent calls share one read.
   */
  refresh(): Promise<void> {
    this.#reading ??= this.#refresh().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #refresh(): Promise<void> {
    let failure: unknown;
    let found: Map<string, NodeHeartbeatRecord> | undefined;
    const read = this.#readAll().then(
      (records) => {
        found = records;
      },
      (error: unknown) => {
        failure = error;
      },
    );
    if (!(await settlesWithin(read, this.#timeoutMs))) failure = new Error(`Redis did not answer within ${this.#timeoutMs} ms`);
    if (this.#closed) return;
    if (failure !== undefined || !found) {
      const reason = (failure as Error | undefined)?.message ?? String(failure);
      if (!this.#stale) {
        this.#options.logger?.warn({ event: 'node-directory-stale', reason, nodes: this.#entries.size }, 'cluster nodes could not be read from Redis; keeping the last known set');
      }
      // Before a first read there is nothing to keep: the set is empty and says so.
      this.#stale = true;
      this.#lastError = reason;
      return;
    }
    if (this.#stale) this.#options.logger?.info({ event: 'node-directory-fresh', nodes: found.size }, 'cluster nodes read again');
    this.#stale = false;
    this.#lastReadAt = this.#now();
    this.#apply(found);
  }

  async #readAll(): Promise<Map<string, NodeHeartbeatRecord>> {
    const { redis, prefix } = this.#options;
    const pattern = `${escapeGlob(prefix)}nodes:*`;
    const keys = new Set<string>();
    let cursor = '0';
    let truncated = false;
    // Bounded: at most maxNodes keys, and as many SCAN steps as could be needed for them (plus slack for empty steps).
    for (let step = 0; step < Math.ceil(this.#maxNodes / BATCH) * 4 + 10; step++) {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', BATCH);
      for (const key of batch) {
        if (keys.size >= this.#maxNodes) truncated = true;
        else keys.add(key);
      }
      cursor = next;
      if (cursor === '0' || truncated) break;
    }
    if (truncated) this.#logOnce(`truncated:${this.#maxNodes}`, { event: 'node-directory-truncated', max: this.#maxNodes }, `more than ${this.#maxNodes} heartbeats under ${prefix}nodes:*; the rest are left out`);
    const records = new Map<string, NodeHeartbeatRecord>();
    const list = [...keys];
    for (let i = 0; i < list.length; i += BATCH) {
      const chunk = list.slice(i, i + BATCH);
      // GETs of values that are not strings (a hash someone wrote) answer null in MGET, never an error.
      const values = await redis.mget(...chunk);
      chunk.forEach((key, j) => {
        const value = values[j];
        if (value === null || value === undefined) return; // expired between SCAN and MGET, or not a string
        const parsed = parseHeartbeat(prefix, key, value);
        if ('problem' in parsed) {
          this.#skipped += 1;
          this.#logOnce(`${key}\u0000${value.slice(0, 200)}`, { event: 'node-heartbeat-invalid', key: key.slice(0, 300), problem: parsed.problem }, 'a heartbeat in Redis is not valid; it is skipped');
          return;
        }
        records.set(parsed.record.id, parsed.record);
      });
    }
    return records;
  }

  #apply(found: Map<string, NodeHeartbeatRecord>): void {
    const now = this.#now();
    const next = new Map<string, Entry>();
    for (const [id, record] of found) {
      if (id === this.#options.selfId) continue;
      const previous = this.#entries.get(id);
      const changed = !previous || previous.record.heartbeatAt !== record.heartbeatAt || previous.record.instance !== record.instance;
      next.set(id, { record, changedAt: changed ? now : previous.changedAt });
    }
    this.#entries = next;
    this.#expire(true);
  }

  /** Drops the nodes whose heartbeat has not changed for longer than its TTL (not while stale: the last known set is kept). */
  #expire(rebuild = false): void {
    const now = this.#now();
    if (!this.#stale && now > this.#nextExpiryAt) {
      for (const [id, entry] of this.#entries) {
        if (now - entry.changedAt > entry.record.ttlMs) {
          this.#entries.delete(id);
          rebuild = true;
        }
      }
    }
    if (rebuild) this.#rebuild();
  }

  #rebuild(): void {
    const targets = new Map<string, UpstreamTarget[]>();
    const versions = new Map<string, Set<number>>();
    let nextExpiryAt = Infinity;
    for (const { record, changedAt } of this.#entries.values()) {
      nextExpiryAt = Math.min(nextExpiryAt, changedAt + record.ttlMs);
      const listed = new Set<string>();
      for (const load of record.versions) {
        const key = versionKey(load.model, load.version);
        // A version listed twice (a buggy or hostile writer) is one target.
        if (listed.has(key)) continue;
        listed.add(key);
        let list = targets.get(key);
        if (!list) targets.set(key, (list = []));
        list.push({ id: record.id, kind: 'node', baseUrl: record.url, reportedLoad: load.inFlight + load.queued, weight: 1 });
        let set = versions.get(load.model);
        if (!set) versions.set(load.model, (set = new Set()));
        set.add(load.version);
      }
    }
    this.#nodes = [...this.#entries.values()].map((entry) => viewOf(entry.record));
    this.#targets = targets;
    this.#versions = new Map([...versions].map(([model, set]) => [model, [...set].sort((a, b) => a - b)]));
    this.#nextExpiryAt = nextExpiryAt;
  }

  #logOnce(id: string, fields: Record<string, unknown>, message: string): void {
    if (this.#logged.has(id)) return;
    if (this.#logged.size >= MAX_REMEMBERED_PROBLEMS) this.#logged.clear();
    this.#logged.add(id);
    this.#options.logger?.warn(fields, message);
  }
}

function viewOf(record: NodeHeartbeatRecord): NodeView {
  return {
    id: record.id,
    url: record.url,
    startedAt: record.startedAt,
    heartbeatAt: record.heartbeatAt,
    eventLoopUtilization: record.eventLoopUtilization,
    p50Ms: record.p50Ms,
    p99Ms: record.p99Ms,
    versions: record.versions,
  };
}

const NONE: readonly never[] = Object.freeze([]);

function versionKey(model: string, version: number): string {
  return `${model}\u0000${version}`;
}

/** A prefix as a literal in a SCAN MATCH pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
