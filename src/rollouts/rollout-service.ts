/**
 * What the admin API and the CLI ask of rollouts: start one (checked against the registry and the
 * current `default` route, then written to Redis), list them, read one, abort one. Only the
 * driver that holds a rollout's lock edits routes, so start and abort write their wish to Redis
 * and wait (briefly) for a driver to carry it out, answering the state as it then stands.
 */
import { SwitchyardError } from '../errors.js';
import type { RouteSource } from '../routing/route-source.js';
import { DEFAULT_ALIAS } from '../routing/route-target.js';
import { parseRolloutSpec } from './rollout-spec.js';
import { splitRoute, type RolloutState } from './rollout-state.js';
import type { RolloutStore } from './rollout-store.js';
import { assertReady, canonicalTarget, currentPrimary, type RolloutVersions } from './rollout-versions.js';

export interface RolloutServiceOptions {
  readonly store: RolloutStore;
  readonly routes: RouteSource;
  readonly versions: RolloutVersions;
  readonly nodeId: string;
  /** Shortest interval_ms a rollout may ask for (ROLLOUT_MIN_INTERVAL_MS). Default 1000. */
  readonly minIntervalMs?: number;
  /** How long start and abort wait for a driver to apply the route, ms. Default 3000. */
  readonly applyWaitMs?: number;
}

export class RolloutService {
  readonly #options: RolloutServiceOptions;

  constructor(options: RolloutServiceOptions) {
    this.#options = options;
  }

  /** Starts a rollout from a `POST /admin/rollouts` body; answers its state once the first split is applied (or the wait ran out). */
  async start(body: unknown): Promise<RolloutState> {
    const { versions, store } = this.#options;
    const spec = parseRolloutSpec(body, { minIntervalMs: this.#options.minIntervalMs ?? 1000 });
    const model = spec.model;
    if (!versions.has(model)) throw new SwitchyardError('MODEL_NOT_FOUND', `no model named '${model}' is known to this gateway`, { details: { model } });
    // First: while a rollout runs, default is its split, which would read as "not one version".
    const existing = await store.read(model);
    if (existing?.state.status === 'running') throw inProgress(existing.state);
    assertReady(model, spec.target, versions, 'target');
    const routes = await this.#options.routes.read(model);
    const primary = currentPrimary(model, routes, versions);
    if (primary === spec.target) {
      throw new SwitchyardError('INVALID_ROLLOUT', `version ${spec.target} is what the default route of model '${model}' serves already; roll out another version`, {
        details: { model, version: spec.target },
      });
    }
    assertReady(model, primary, versions, 'primary');

    const now = Date.now();
    const weight = Math.min(spec.step, spec.maxWeight);
    const original = routes?.[DEFAULT_ALIAS];
    const state: RolloutState = {
      model,
      primary,
      target: spec.target,
      spec,
      status: 'running',
      weight,
      failedChecks: 0,
      originalDefault: original,
      route: splitRoute(primary, spec.target, weight),
      previousRoute: canonicalTarget(original),
      applied: false,
      startedAt: now,
      updatedAt: now,
      revision: 0,
      history: [{ at: now, event: 'started', weight, driver: this.#options.nodeId }],
      historyDropped: 0,
    };
    if (!(await store.create(state))) {
      const raced = await store.read(model);
      throw inProgress(raced?.state ?? state);
    }
    return this.#waitFor(model, (s) => s.applied || s.status !== 'running');
  }

  async list(): Promise<RolloutState[]> {
    const states: RolloutState[] = [];
    for (const model of await this.#options.store.models()) {
      const stored = await this.#options.store.read(model);
      if (stored) states.push(stored.state);
    }
    return states;
  }

  async get(model: string): Promise<RolloutState> {
    const stored = await this.#options.store.read(model);
    if (!stored) throw notFound(model);
    return stored.state;
  }

  /** Asks the driver to roll back; answers the state once it did (or the wait ran out: still `running`, abort pending). */
  async abort(model: string, reason = 'aborted by an operator'): Promise<RolloutState> {
    const outcome = await this.#options.store.requestAbort(model, reason);
    if (outcome === 'none') throw notFound(model);
    if (outcome !== 'ok') {
      throw new SwitchyardError('ROLLOUT_FINISHED', `the rollout of model '${model}' has already ended (${outcome}); there is nothing to abort`, {
        details: { model, status: outcome },
      });
    }
    return this.#waitFor(model, (s) => s.status !== 'running' && s.applied);
  }

  async #waitFor(model: string, done: (state: RolloutState) => boolean): Promise<RolloutState> {
    const until = Date.now() + (this.#options.applyWaitMs ?? 3000);
    for (;;) {
      const stored = await this.#options.store.read(model);
      if (!stored) throw notFound(model);
      if (done(stored.state) || Date.now() >= until) return stored.state;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function notFound(model: string): SwitchyardError {
  return new SwitchyardError('ROLLOUT_NOT_FOUND', `model '${model}' has no rollout`, { details: { model } });
}

function inProgress(state: RolloutState): SwitchyardError {
  return new SwitchyardError(
    'ROLLOUT_IN_PROGRESS',
    `model '${state.model}' already has a rollout running (version ${state.primary} -> ${state.target}, canary at ${state.weight}%); abort it first`,
    { details: { model: state.model, primary: state.primary, target: state.target, weight: state.weight } },
  );
}
