/**
 * What this node says about itself: the heartbeat it publishes and the `self` of GET /cluster,
 * built from its own parts at the moment it is asked (READY versions from the registry, in-flight
 * and queued counts from the scheduler, recent latencies, event-loop utilisation). No Redis here:
 * a node without REDIS_URL still describes itself.
 */
import { randomBytes } from 'node:crypto';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { MAX_HEARTBEAT_VERSIONS, type NodeHeartbeatRecord } from './node-heartbeat-record.js';
import type { LatencyWindow } from './latency-window.js';

/** One READY version with the work this node has of it. */
export interface VersionLoad {
  readonly model: string;
  readonly version: number;
  /** Requests running (in a batch on a session). */
  readonly inFlight: number;
  /** Requests waiting in the version's queue. */
  readonly queued: number;
}

export interface NodeReportOptions {
  /** This node's id (NODE_ID). Required. */
  readonly id: string;
  /** The base URL peers reach it at, once known (the bound port comes with listen()). Required. */
  readonly url: () => string;
  /** The versions it has READY with their load. Required. */
  readonly versions: () => Iterable<VersionLoad>;
  /** Where recent request latencies are recorded. Required. */
  readonly latencies: LatencyWindow;
  /** The heartbeat TTL written with the record, ms. Required. */
  readonly ttlMs: number;
  /** HTTP loops serving the URL. Default 1. */
  readonly loops?: number;
  /** Epoch ms the node started. Default now. */
  readonly startedAt?: number;
}

export class NodeReport {
  readonly id: string;
  readonly startedAt: number;
  /** Random per process (see NodeHeartbeatRecord.instance). */
  readonly instance = randomBytes(8).toString('hex');
  readonly #options: NodeReportOptions;
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #lastElu = 0;
  #eluAt = performance.now();

  constructor(options: NodeReportOptions) {
    this.#options = options;
    this.id = options.id;
    this.startedAt = options.startedAt ?? Date.now();
  }

  /** The record as of now. Event-loop utilisation is over the time since the previous call (at least 250 ms, else the last figure). */
  current(): NodeHeartbeatRecord {
    const versions: VersionLoad[] = [];
    for (const load of this.#options.versions()) {
      if (versions.length >= MAX_HEARTBEAT_VERSIONS) break;
      versions.push({ model: load.model, version: load.version, inFlight: Math.max(0, load.inFlight), queued: Math.max(0, load.queued) });
    }
    const { p50Ms, p99Ms } = this.#options.latencies.quantiles();
    return {
      id: this.id,
      url: this.#options.url(),
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      ttlMs: this.#options.ttlMs,
      instance: this.instance,
      loops: this.#options.loops ?? 1,
      eventLoopUtilization: this.#eventLoopUtilization(),
      p50Ms,
      p99Ms,
      versions,
    };
  }

  #eventLoopUtilization(): number {
    if (performance.now() - this.#eluAt >= 250) {
      const now = performance.eventLoopUtilization();
      this.#lastElu = Math.round(Math.min(1, Math.max(0, performance.eventLoopUtilization(now, this.#elu).utilization)) * 1000) / 1000;
      this.#elu = now;
      this.#eluAt = performance.now();
    }
    return this.#lastElu;
  }
}

/**
 * The URL a node advertises when ADVERTISE_URL is unset: its HOST and bound port, with the
 * wildcard addresses (0.0.0.0, ::) as 127.0.0.1 — right on one machine only; across machines
 * ADVERTISE_URL must name an address the peers can reach (deploy/kubernetes sets the pod IP).
 */
export function defaultAdvertiseUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
