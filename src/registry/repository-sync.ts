/**
 * Keeps the registry in step with the repository on disk: a version that appears or changes is
 * (re)loaded, one that disappears is unloaded. Failures end up as FAILED states in the registry
 * and in the log; they never escape an event handler, so one broken model cannot stop the watcher
 * or the other models.
 */
import pino, { type Logger } from 'pino';
import type { ConfigChangedEvent, ModelRepository, VersionAddedEvent, VersionRemovedEvent } from '../repository/model-repository.js';
import type { ModelConfigStore } from './model-config-store.js';
import type { ModelRegistry } from './model-registry.js';

export interface RepositorySyncOptions {
  readonly repository: ModelRepository;
  readonly registry: ModelRegistry;
  /** Where load failures are reported. Default: a silent logger (the registry's events still fire). */
  readonly logger?: Logger;
  /**
   * Keeps each model's config.json: read before the model's first version loads, re-read when it
   * changes; a change of session settings reloads the model's live versions. Default: none.
   */
  readonly configs?: ModelConfigStore;
}

export class RepositorySync {
  readonly #repository: ModelRepository;
  readonly #registry: ModelRegistry;
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<void>>();
  #idleWaiters: (() => void)[] = [];
  #started = false;
  #closed = false;

  readonly #onAdded = (event: VersionAddedEvent): void => this.#track(this.#load(event));
  readonly #onRemoved = (event: VersionRemovedEvent): void => this.#track(this.#unload(event));
  readonly #onConfig = (event: ConfigChangedEvent): void => {
    if (this.#configs) this.#track(this.#configs.load(event.name, event.path));
  };
  readonly #onConfigApplied = (event: { name: string; sessionSettingsChanged: boolean }): void => {
    if (event.sessionSettingsChanged) this.#track(this.#reloadModel(event.name));
  };
  readonly #configs: ModelConfigStore | undefined;

  constructor(options: RepositorySyncOptions) {
    this.#repository = options.repository;
    this.#registry = options.registry;
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#configs = options.configs;
  }

  /** Loads and unloads started by repository events and not finished yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Subscribes to the repository, then starts it; resolves once the initial scan is announced
   * (its loads may still be running: see whenIdle()). Idempotent.
   */
  async start(): Promise<void> {
    if (this.#closed) throw new Error('RepositorySync is closed');
    if (!this.#started) {
      this.#started = true;
      this.#repository.on('version-added', this.#onAdded);
      this.#repository.on('version-changed', this.#onAdded);
      this.#repository.on('version-removed', this.#onRemoved);
      this.#repository.on('config-changed', this.#onConfig);
      this.#configs?.on('changed', this.#onConfigApplied);
    }
    await this.#repository.start();
  }

  /** Resolves when no load or unload started by this sync is running. */
  whenIdle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops listening; running loads finish on their own. Closes neither side. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#repository.off('version-added', this.#onAdded);
    this.#repository.off('version-changed', this.#onAdded);
    this.#repository.off('version-removed', this.#onRemoved);
    this.#repository.off('config-changed', this.#onConfig);
    this.#configs?.off('changed', this.#onConfigApplied);
  }

  async #load({ name, version, path }: VersionAddedEvent): Promise<void> {
    try {
      // Instances and session options come from config.json: know it before the first load.
      if (this.#configs && !this.#configs.has(name)) await this.#configs.load(name, this.#repository.configPath(name));
      await this.#registry.load(name, version, path);
    } catch (error) {
      // The registry recorded FAILED with the reason and emitted 'failed' (logged by its subscribers).
      this.#logger.debug({ model: name, version, path, err: error }, 'load from the repository did not go live');
    }
  }

  /** New session settings: every live version loads again (standby, warmup, swap). */
  async #reloadModel(name: string): Promise<void> {
    const live = this.#registry.versions(name).filter((status) => status.path !== undefined);
    await Promise.allSettled(live.map((status) => this.#registry.load(name, status.version, status.path!)));
  }

  async #unload({ name, version }: VersionRemovedEvent): Promise<void> {
    try {
      await this.#registry.unload(name, version);
    } catch (error) {
      this.#logger.error({ model: name, version, err: error }, 'model version failed to unload');
    }
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => {
      this.#pending.delete(work);
      if (this.#pending.size > 0) return;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    });
  }
}
