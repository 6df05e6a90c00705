/**
 * Drives rollouts: every tick, for each running rollout in Redis, take (or renew) its lock, and if
 * this replica holds it, carry the rollout one decision further. A decision is written to Redis
 * first (fenced on the lock and the revision read), then applied to the `default` route through
 * the route store (validated, published, fenced like any admin edit), then marked applied; a
 * driver that dies in between leaves a state its successor finishes. A `default` that is neither
 * what the rollout wrote nor what it is about to replace was edited by an operator: the rollout
 * stops, records it, and leaves the route alone.
 *
 * Windows are judged on THIS process's counters (src/scheduling/latency-histogram.ts): with
 * several replicas or HTTP loops the driver sees only the traffic it serves, a sample of the
 * whole; min_requests applies to that sample. A new driver (restart, takeover) starts a fresh
 * window: it has no baseline of the old one's counters.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import type { RouteSource, RouteStore } from '../routing/route-source.js';
import { DEFAULT_ALIAS } from '../routing/route-target.js';
import { emptyLatencySnapshot, latencyWindow, type LatencySnapshot } from '../scheduling/latency-histogram.js';
import { judgeWindow } from './rollout-judge.js';
import type { RolloutLock } from './rollout-lock.js';
import { splitRoute, withHistory, type RolloutEvent, type RolloutHistoryRow, type RolloutState } from './rollout-state.js';
import type { RolloutStore } from './rollout-store.js';
import { canonicalTarget } from './rollout-versions.js';

/** Told about every rollout event this replica drove (the metrics). */
export interface RolloutObserver {
  rolloutStep(model: string, outcome: RolloutEvent, weight: number): void;
}

export interface RolloutDriverOptions {
  readonly store: RolloutStore;
  readonly lock: RolloutLock;
  readonly routes: RouteSource & RouteStore;
  /** A version's cumulative latency histogram in this process (the batcher's). */
  readonly latency: (model: string, version: number) => LatencySnapshot | undefined;
  /** This node's id, recorded in the history rows it writes. */
  readonly nodeId: string;
  readonly logger: Logger;
  readonly observer?: RolloutObserver | undefined;
  /** How often running rollouts are looked at, ms. Default 250. */
  readonly tickMs?: number;
  /** Lock lifetime, ms: a crashed driver is replaced this long after its last renewal. Default 5000. */
  readonly lockTtlMs?: number;
}

interface Window {
  readonly revision: number;
  readonly startedAt: number;
  readonly canary: LatencySnapshot;
  readonly primary: LatencySnapshot;
}

export class RolloutDriver {
  readonly #options: RolloutDriverOptions;
  /** One token per driver: what the lock holds and state writes are fenced on. */
  readonly token: string;
  readonly #windows = new Map<string, Window>();
  readonly #held = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #closed = false;

  constructor(options: RolloutDriverOptions) {
    this.#options = options;
    this.token = `${options.nodeId}:${randomBytes(8).toString('hex')}`;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.tick(), this.#options.tickMs ?? 250);
    this.#timer.unref();
  }

  /** One pass over every rollout (serialized: a slow pass is never overlapped by the next). */
  tick(): Promise<void> {
    this.#ticking ??= this.#pass().finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  /** Stops ticking and lets go of the locks this replica holds, so another replica takes over at once. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#ticking;
    for (const model of this.#held) await this.#options.lock.release(this.#options.store.lockKey(model), this.token).catch(() => undefined);
    this.#held.clear();
  }

  async #pass(): Promise<void> {
    if (this.#closed) return;
    let models: string[];
    try {
      models = await this.#options.store.models();
    } catch (error) {
      this.#options.logger.debug({ err: error }, 'rollouts: Redis not reachable; trying again next tick');
      return;
    }
    for (const model of models) {
      if (this.#closed) return;
      try {
        await this.#drive(model);
      } catch (error) {
        this.#options.logger.warn({ event: 'rollout-error', model, err: messageOf(error) }, 'rollout check failed; trying again next tick');
      }
    }
  }

  async #drive(model: string): Promise<void> {
    const { store, lock } = this.#options;
    const stored = await store.read(model);
    if (!stored || (stored.state.status !== 'running' && stored.state.applied)) {
      this.#windows.delete(model);
      if (this.#held.delete(model)) await lock.release(store.lockKey(model), this.token);
      return;
    }
    if (!(await lock.hold(store.lockKey(model), this.token, this.#options.lockTtlMs ?? 5000))) {
      this.#held.delete(model);
      this.#windows.delete(model);
      return;
    }
    this.#held.add(model);
    let state = stored.state;
    const current = canonicalTarget((await this.#options.routes.read(model))?.[DEFAULT_ALIAS]);

    if (!state.applied) {
      if (current !== state.route && current !== state.previousRoute) {
        await this.#operatorEdited(state, current);
        return;
      }
      if (current !== state.route) await this.#options.routes.setRoute(model, DEFAULT_ALIAS, state.route);
      const applied = await this.#write({ ...state, applied: true, revision: state.revision + 1, updatedAt: Date.now() });
      if (!applied) return;
      state = applied;
      if (state.status !== 'running') return;
    } else if (current !== state.route) {
      await this.#operatorEdited(state, current);
      return;
    }

    if (stored.abortRequested !== undefined) {
      await this.#decide(state, 'aborted', { status: 'aborted', weight: 0, route: restoredRoute(state), reason: stored.abortRequested });
      return;
    }

    const window = this.#windows.get(model);
    const now = Date.now();
    if (!window || window.revision !== state.revision) {
      this.#windows.set(model, { revision: state.revision, startedAt: now, ...this.#snapshots(state) });
      return;
    }
    if (now - window.startedAt < state.spec.intervalMs) return;

    const latest = this.#snapshots(state);
    const verdict = judgeWindow(state.spec, latencyWindow(window.canary, latest.canary), latencyWindow(window.primary, latest.primary));
    const figures = { canary: verdict.canary, primary: verdict.primary };
    if (verdict.outcome === 'inconclusive') {
      await this.#decide(state, 'inconclusive', { reason: verdict.reason }, figures);
    } else if (verdict.outcome === 'fail') {
      const failedChecks = state.failedChecks + 1;
      if (failedChecks >= state.spec.maxFailedChecks) {
        const reason = `${verdict.reason}; ${failedChecks} failed check${failedChecks === 1 ? '' : 's'} (max_failed_checks ${state.spec.maxFailedChecks})`;
        await this.#decide(state, 'rolled_back', { status: 'rolled_back', failedChecks, weight: 0, route: restoredRoute(state), reason }, figures);
      } else {
        await this.#decide(state, 'failed', { failedChecks, reason: verdict.reason }, figures);
      }
    } else if (state.weight >= state.spec.maxWeight) {
      await this.#decide(state, 'promoted', { status: 'promoted', weight: 100, route: String(state.target) }, figures);
    } else {
      const weight = Math.min(state.weight + state.spec.step, state.spec.maxWeight);
      await this.#decide(state, 'advanced', { weight, route: splitRoute(state.primary, state.target, weight) }, figures);
    }
  }

  #snapshots(state: RolloutState): { canary: LatencySnapshot; primary: LatencySnapshot } {
    const { latency } = this.#options;
    return {
      canary: latency(state.model, state.target) ?? emptyLatencySnapshot(),
      primary: latency(state.model, state.primary) ?? emptyLatencySnapshot(),
    };
  }

  /**
   * Records one event: state first (a row; for a new route, not yet applied), then the route,
   * then "applied". An inconclusive or failed check changes no route and starts a new window.
   */
  async #decide(
    state: RolloutState,
    event: RolloutEvent,
    changes: Partial<Pick<RolloutState, 'status' | 'weight' | 'failedChecks' | 'route' | 'reason'>> & { reason?: string },
    figures?: Pick<RolloutHistoryRow, 'canary' | 'primary'>,
  ): Promise<void> {
    const now = Date.now();
    const weight = changes.weight ?? state.weight;
    const row: RolloutHistoryRow = { at: now, event, weight, ...(changes.reason === undefined ? {} : { reason: changes.reason }), ...figures, driver: this.#options.nodeId };
    const routeChanges = changes.route !== undefined && changes.route !== state.route;
    const terminal = changes.status !== undefined && changes.status !== 'running';
    const next: RolloutState = {
      ...state,
      ...(changes.status === undefined ? {} : { status: changes.status }),
      weight,
      failedChecks: changes.failedChecks ?? state.failedChecks,
      ...(terminal && changes.reason !== undefined ? { reason: changes.reason } : {}),
      ...(routeChanges ? { route: changes.route!, previousRoute: state.route, applied: false } : {}),
      ...withHistory(state, row),
      revision: state.revision + 1,
      updatedAt: now,
    };
    const written = await this.#write(next);
    if (!written) return;
    this.#announce(written, row);
    if (!routeChanges) return;
    await this.#options.routes.setRoute(state.model, DEFAULT_ALIAS, written.route);
    await this.#write({ ...written, applied: true, revision: written.revision + 1, updatedAt: Date.now() });
  }

  async #operatorEdited(state: RolloutState, current: string | undefined): Promise<void> {
    const reason = `the default route was changed outside the rollout to ${current === undefined ? 'nothing (removed)' : `"${current}"`} (the rollout had set "${state.route}"); stopped, routes left as they are`;
    if (state.status !== 'running') {
      // An ended rollout whose last route edit was overtaken by an operator: theirs stands.
      await this.#write({ ...state, applied: true, revision: state.revision + 1, updatedAt: Date.now() });
      return;
    }
    const now = Date.now();
    const row: RolloutHistoryRow = { at: now, event: 'stopped', weight: 0, reason, driver: this.#options.nodeId };
    const written = await this.#write({ ...state, status: 'stopped', weight: 0, reason, applied: true, ...withHistory(state, row), revision: state.revision + 1, updatedAt: now });
    if (written) this.#announce(written, row);
  }

  /** The fenced write; undefined when another driver holds the lock now or wrote first (this tick is dropped). */
  async #write(state: RolloutState): Promise<RolloutState | undefined> {
    const outcome = await this.#options.store.write(this.token, state);
    if (outcome === 'ok') {
      this.#windows.delete(state.model);
      return state;
    }
    if (outcome === 'lost') this.#held.delete(state.model);
    this.#options.logger.info({ event: 'rollout-write-refused', model: state.model, outcome }, 'rollout write refused (another driver took over or wrote first)');
    return undefined;
  }

  #announce(state: RolloutState, row: RolloutHistoryRow): void {
    this.#options.observer?.rolloutStep(state.model, row.event, state.status === 'running' ? row.weight : 0);
    const log = row.event === 'rolled_back' || row.event === 'stopped' || row.event === 'failed' ? 'warn' : 'info';
    this.#options.logger[log](
      { event: `rollout-${row.event.replace('_', '-')}`, model: state.model, primary: state.primary, target: state.target, weight: row.weight, reason: row.reason, canary: row.canary, primaryWindow: row.primary },
      `rollout ${row.event}`,
    );
  }
}

/** What `default` goes back to when a rollout is taken back: what it was, else the primary. */
export function restoredRoute(state: RolloutState): string {
  return state.originalDefault ?? String(state.primary);
}
