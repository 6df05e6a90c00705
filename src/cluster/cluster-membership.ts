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

  /** Starts reading the others now; the heartbeat starts with `announce()` (once the URL is known). */
  start(): void {
    this.directory.start();
  }

  /** Starts the heartbeat (after listen: the advertised URL needs the bound port). */
  announce(): void {
    this.heartbeat?.start();
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
