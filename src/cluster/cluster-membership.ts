/**
 * Membership as the gateway wires it (REDIS_URL set): one Redis connection for this node's
 * heartbeat and its directory of the others, with every command bounded (a command timeout, no
 * offline queue, endless reconnection), and the order of leaving: stop and delete the heartbeat
 * first, then let the directory and the connection go after the drain.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { closeRedisConnection } from '../redis-connection-close.js';
import { NodeDirectory } from './node-directory.js';
import { NodeHeartbeat } from './node-heartbeat.js';
import type { NodeReport } from './node-report.js';

export interface ClusterMembershipOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  /** This node's self-description. Required. */
  readonly report: NodeReport;
  /** Heartbeat interval (and directory read interval), ms. Required. */
  readonly intervalMs: number;
  /** Heartbeat TTL, ms. Required. */
  readonly ttlMs: number;
  /** False: read the others but write no heartbeat (an HTTP loop other than the first: the first speaks for the server). Default true. */
  readonly publish?: boolean;
  readonly logger?: Logger | undefined;
  /** Told of each failed heartbeat write (the metric). */
  readonly onHeartbeatFailure?: (() => void) | undefined;
}

/** A Redis command not answered within this fails (a hung Redis must not hold a heartbeat or a read). */
const COMMAND_TIMEOUT_MS = 500;
/** How long the first read waits for the connection before it may fail (start-up must not log a lost Redis). */
const FIRST_CONNECT_WAIT_MS = 2_000;

export class ClusterMembership {
  readonly directory: NodeDirectory;
  /** Undefined when this process does not publish. */
  readonly heartbeat: NodeHeartbeat | undefined;
  readonly #redis: Redis;
  #closed: Promise<void> | undefined;

  constructor(options: ClusterMembershipOptions) {
    this.#redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // Never give up: membership comes back on its own once Redis does.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 1000),
      connectionName: 'switchyard-membership',
    });
    // Failures surface as failed heartbeats and a stale directory (logged there, once per episode).
    this.#redis.on('error', () => {});
    // Bounded a little above the command timeout, for a read that needs several commands.
    const timeoutMs = Math.max(COMMAND_TIMEOUT_MS * 2, Math.min(options.intervalMs, 3_000));
    this.directory = new NodeDirectory({
      redis: this.#redis,
      prefix: options.prefix,
      selfId: options.report.id,
      intervalMs: options.intervalMs,
      timeoutMs,
      logger: options.logger,
    });
    this.heartbeat =
      options.publish === false
        ? undefined
        : new NodeHeartbeat({
            redis: this.#redis,
            prefix: options.prefix,
            report: options.report,
            intervalMs: options.intervalMs,
            ttlMs: options.ttlMs,
            timeoutMs: Math.max(COMMAND_TIMEOUT_MS * 2, Math.min(options.ttlMs / 2, 3_000)),
            logger: options.logger,
            onFailure: options.onHeartbeatFailure,
          });
  }

  /**
   * Starts reading the others once the connection is up (or after FIRST_CONNECT_WAIT_MS, so a
   * Redis that never answers shows as a stale directory); the heartbeat starts with `announce()`.
   */
  start(): void {
    this.#onceConnected(() => this.directory.start());
    // Back from a lost connection: read at once rather than at the next interval.
    this.#redis.on('ready', () => {
      if (this.directory.stale) void this.directory.refresh();
    });
  }

  /** Starts the heartbeat (after listen: the advertised URL needs the bound port), once connected as start() does. */
  announce(): void {
    this.#onceConnected(() => this.heartbeat?.start());
  }

  /** Runs `action` when the connection is ready, or after FIRST_CONNECT_WAIT_MS at the latest (then failures count). */
  #onceConnected(action: () => void): void {
    if (this.#redis.status === 'ready') {
      action();
      return;
    }
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.#redis.off('ready', run);
      action();
    };
    const timer = setTimeout(run, FIRST_CONNECT_WAIT_MS);
    timer.unref();
    this.#redis.once('ready', run);
  }

  /** Deletes this node's heartbeat (bounded); peers stop choosing it at their next read. */
  async leave(): Promise<void> {
    await this.heartbeat?.leave();
  }

  /** After leave() and the drain: stops reading and closes the connection. Safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.leave();
      this.directory.close();
      await closeRedisConnection(this.#redis);
    })();
    return this.#closed;
  }
}
