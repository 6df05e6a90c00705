/**
 * The rollouts of one gateway: a Redis connection of their own, the store and lock on it, the
 * service the admin API calls and the driver that ticks. Present only with REDIS_URL (a rollout
 * that a restart forgets would be worse than none).
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { SwitchyardError, isSwitchyardError, messageOf } from '../errors.js';
import { closeRedisConnection } from '../redis-connection-close.js';
import type { RouteSource, RouteStore } from '../routing/route-source.js';
import type { LatencySnapshot } from '../scheduling/latency-histogram.js';
import { RolloutDriver, type RolloutObserver } from './rollout-driver.js';
import { RolloutLock } from './rollout-lock.js';
import { RolloutService } from './rollout-service.js';
import type { RolloutState } from './rollout-state.js';
import { RolloutStore } from './rollout-store.js';
import type { RolloutVersions } from './rollout-versions.js';

export interface RolloutsOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly routes: RouteSource & RouteStore;
  readonly versions: RolloutVersions;
  readonly latency: (model: string, version: number) => LatencySnapshot | undefined;
  readonly nodeId: string;
  readonly logger: Logger;
  readonly observer?: RolloutObserver | undefined;
  /** ROLLOUT_MIN_INTERVAL_MS. Default 1000. */
  readonly minIntervalMs?: number;
  /** Driver tick, ms. Default 250 (or a quarter of minIntervalMs when that is shorter). */
  readonly tickMs?: number;
  /** Driver lock lifetime, ms. Default 5000. */
  readonly lockTtlMs?: number;
}

/** The operations the admin API uses (what src/http sees). */
export interface RolloutApi {
  start(body: unknown): Promise<RolloutState>;
  list(): Promise<RolloutState[]>;
  get(model: string): Promise<RolloutState>;
  abort(model: string): Promise<RolloutState>;
}

export class Rollouts implements RolloutApi {
  readonly driver: RolloutDriver;
  readonly #redis: Redis;
  readonly #service: RolloutService;
  readonly #options: RolloutsOptions;
  #closed: Promise<void> | undefined;

  constructor(options: RolloutsOptions) {
    this.#options = options;
    this.#redis = new Redis(options.redisUrl, {
      connectionName: 'switchyard-rollouts',
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 1000),
    });
    this.#redis.on('error', () => undefined); // reconnects on its own; commands fail and say so
    const store = new RolloutStore(this.#redis, options.prefix);
    const minIntervalMs = options.minIntervalMs ?? 1000;
    this.#service = new RolloutService({ store, routes: options.routes, versions: options.versions, nodeId: options.nodeId, minIntervalMs });
    this.driver = new RolloutDriver({
      store,
      lock: new RolloutLock(this.#redis),
      routes: options.routes,
      latency: options.latency,
      nodeId: options.nodeId,
      logger: options.logger,
      observer: options.observer,
      tickMs: options.tickMs ?? Math.max(20, Math.min(250, Math.floor(minIntervalMs / 4))),
      ...(options.lockTtlMs === undefined ? {} : { lockTtlMs: options.lockTtlMs }),
    });
  }

  async start(body: unknown): Promise<RolloutState> {
    const state = await unavailableOnRedisFailure('starting a rollout', () => this.#service.start(body));
    // The first step, written here; the driver announces the rest.
    this.#options.observer?.rolloutStep(state.model, 'started', state.weight);
    this.#options.logger.info(
      { event: 'rollout-started', model: state.model, primary: state.primary, target: state.target, weight: state.weight, spec: state.spec },
      'rollout started',
    );
    return state;
  }

  list(): Promise<RolloutState[]> {
    return unavailableOnRedisFailure('listing rollouts', () => this.#service.list());
  }

  get(model: string): Promise<RolloutState> {
    return unavailableOnRedisFailure('reading a rollout', () => this.#service.get(model));
  }

  abort(model: string): Promise<RolloutState> {
    return unavailableOnRedisFailure('aborting a rollout', () => this.#service.abort(model));
  }

  /** Stops the driver (releasing its locks) and closes the connection. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.driver.close();
      await closeRedisConnection(this.#redis);
    })();
    return this.#closed;
  }
}

async function unavailableOnRedisFailure<T>(doing: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isSwitchyardError(error)) throw error;
    throw new SwitchyardError('ROUTING_UNAVAILABLE', `Redis failed while ${doing}: ${messageOf(error)}`, { retryAfterSeconds: 1, cause: error });
  }
}
