/**
 * What is live: one VersionLifecycle per model version, each holding the session that serves it.
 *
 * A (re)load builds a standby session, warms it up and only then swaps the active pointer, so a
 * request always lands on a working session. Leases count in-flight work per session
 * (LeasedSession); a session that was swapped out or unloaded is released when its last lease
 * ends, never under a request. Loads and unloads of one version run one after another
 * (VersionOperationQueue); loads queued behind a running one collapse into a single load of the
 * newest file. This class composes those parts with the runtime, the stats and the events.
 */
import { EventEmitter } from 'node:events';
import { ModelLoadError, SwitchyardError, messageOf } from '../errors.js';
import { isValidModelName, isValidVersion } from '../repository/model-name.js';
import { settlesWithin } from '../settles-within.js';
import type { InferenceRuntime, InferenceSession, SessionOptions } from '../runtime/inference-runtime.js';
import { loadSessionInstances, sessionInstances } from '../runtime/session-group.js';
import type { ModelSignature } from '../tensor.js';
import type { ModelLease, ReleaseCause } from './leased-session.js';
import { VersionLifecycle } from './version-lifecycle.js';
import { VersionOperationQueue } from './version-operation-queue.js';
import { VersionState, type VersionStatus } from './version-state.js';
import { noWarmup, warmUp, type WarmupPlan, type WarmupReport } from './version-warmup.js';

export interface ModelRegistryOptions {
  /** Loads model files. The registry releases its sessions but never closes the runtime. */
  readonly runtime: InferenceRuntime;
  /** Passed to every runtime.load. Default: the runtime's defaults. */
  readonly sessionOptions?: Partial<SessionOptions>;
  /**
   * Warm up each session before it goes live (MODEL_WARMUP). false: no warmup at all, whatever
   * `warmupFor` says (its samples are not even read). Default true.
   */
  readonly warmup?: boolean;
  /**
   * Each load's warmup: the model's mode and shipped samples (see version-warmup.ts), asked before
   * the session loads. A rejection fails the load with its message. Default: mode `auto`, no
   * samples (a generated warmup whose failure is reported by 'warmup-failed' and serves anyway).
   */
  readonly warmupFor?: (name: string, version: number, path: string) => WarmupPlan | Promise<WarmupPlan>;
  /**
   * Per-model session settings (from the model's config.json), asked at each load; they win over
   * `sessionOptions`. Default: none (every model uses `sessionOptions`, one instance).
   */
  readonly loadSettingsFor?: (name: string) => ModelLoadSettings;
  /**
   * close()'s whole budget: how long it waits for in-flight leases, running loads and session
   * releases before it lets go of them and returns anyway. Default 30 000 ms.
   */
  readonly closeTimeoutMs?: number;
  /**
   * Longest a load (onnxruntime's load of every instance, then the warmup run) may take. Past it
   * the version is FAILED with "load timed out after N ms", the version's next operation may run,
   * and the session, if it ever arrives, is released. Default 120 000 ms.
   */
  readonly loadTimeoutMs?: number;
}

export interface ModelLoadSettings {
  readonly sessionOptions?: Partial<SessionOptions>;
  /** Sessions per version, run concurrently (see loadSessionInstances). Default 1. */
  readonly instances?: number;
}

export interface CloseOptions {
  /** Overrides ModelRegistryOptions.closeTimeoutMs for this call. */
  readonly timeoutMs?: number;
}

export type { ModelLease, ReleaseCause } from './leased-session.js';

/** A version whose serving session (or one of its instances) died with a worker thread. */
export interface LostVersion {
  readonly name: string;
  readonly version: number;
  /** The model file the lost session was loaded from: what a reload loads. */
  readonly path: string;
  /** True when other instances of its group still serve it meanwhile. */
  readonly servable: boolean;
}

export interface RegistryStats {
  /** Sessions the runtime handed out (including ones later discarded). */
  readonly sessionsLoaded: number;
  /** Sessions given back to the runtime. Equal to sessionsLoaded once everything is closed. */
  readonly sessionsReleased: number;
  /** Reloads that replaced a serving session. */
  readonly swaps: number;
  /** Loads or warmups that failed. */
  readonly loadFailures: number;
}

export interface ModelRegistryEvents {
  'state-changed': [{ name: string; version: number; state: VersionState; previous: VersionState | undefined }];
  /** A session went live; `reload` when it replaced another one. */
  loaded: [{ name: string; version: number; path: string; signature: ModelSignature; reload: boolean }];
  /** The active pointer moved to a new session; the old one drains. */
  swapped: [{ name: string; version: number; path: string; previousPath: string }];
  /**
   * The best-effort generated warmup of a session failed (mode `auto`, no samples); the session
   * went live anyway because it loaded. `reason` is onnxruntime's.
   */
  'warmup-failed': [{ name: string; version: number; path: string; reason: string }];
  /** A load or warmup failed; `serving` tells whether an older session still answers. */
  failed: [{ name: string; version: number; path: string; reason: string; serving: boolean }];
  unloaded: [{ name: string; version: number }];
  /** A session was handed back to the runtime. */
  released: [{ name: string; version: number; path: string; cause: ReleaseCause }];
  /** A session's release() failed; the registry carries on. */
  error: [Error];
}

/** A loaded standby session and how it was warmed up. */
interface PreparedSession {
  readonly session: InferenceSession;
  readonly warmup: WarmupReport;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
const DEFAULT_LOAD_TIMEOUT_MS = 120_000;
const NOTHING_ADMITTED = (): void => undefined;

export class ModelRegistry extends EventEmitter<ModelRegistryEvents> {
  readonly #runtime: InferenceRuntime;
  readonly #sessionOptions: Partial<SessionOptions> | undefined;
  readonly #warmup: boolean;
  readonly #warmupFor: ((name: string, version: number, path: string) => WarmupPlan | Promise<WarmupPlan>) | undefined;
  readonly #loadSettingsFor: ((name: string) => ModelLoadSettings) | undefined;
  readonly #closeTimeoutMs: number;
  readonly #loadTimeoutMs: number;
  readonly #models = new Map<string, Map<number, VersionLifecycle>>();
  /** Loads and unloads, one at a time per version. */
  readonly #operations = new VersionOperationQueue();
  /** Session releases and timed-out loads still running, awaited by close() (within its budget). */
  readonly #background = new Set<Promise<void>>();
  #stats = { sessionsLoaded: 0, sessionsReleased: 0, swaps: 0, loadFailures: 0 };
  #closing = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: ModelRegistryOptions) {
    super();
    this.#runtime = options.runtime;
    this.#sessionOptions = options.sessionOptions;
    this.#warmup = options.warmup ?? true;
    this.#warmupFor = options.warmupFor;
    this.#loadSettingsFor = options.loadSettingsFor;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.#loadTimeoutMs = options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
    if (!Number.isInteger(this.#loadTimeoutMs) || this.#loadTimeoutMs < 1) {
      throw new RangeError(`loadTimeoutMs must be an integer >= 1, got ${this.#loadTimeoutMs}`);
    }
  }

  /**
   * Loads (or reloads) a version from a model file and makes it live once warmed up. Resolves when
   * that file is serving; rejects with ModelLoadError when it could not be, after recording FAILED
   * (an older session, if any, keeps serving). Calls made while a load of the same version runs
   * are merged into one more load of the newest path.
   */
  load(name: string, version: number, path: string): Promise<void> {
    if (!isValidModelName(name) || !isValidVersion(version)) {
      return Promise.reject(
        new SwitchyardError('INVALID_MODEL_NAME', `"${name}" version ${version} is not a valid model name and version`, {
          details: { name, version },
        }),
      );
    }
    if (this.#closing) return Promise.reject(shuttingDown(name, version));
    let entry = this.#entry(name, version);
    if (!entry) {
      entry = new VersionLifecycle(name, version, {
        stateChanged: (state, previous) => this.emit('state-changed', { name, version, state, previous }),
        free: (session, file, cause) => this.#freeSession(name, version, session, file, cause),
      });
      this.#remember(entry);
      // After it is findable, so listeners that look the version up see it.
      this.emit('state-changed', { name, version, state: entry.state, previous: undefined });
    }
    const target = entry;
    return this.#operations.load(keyOf(name, version), path, (newest) => this.#runLoad(target, newest));
  }

  /**
   * Stops new requests to a version (DRAINING), serves the ones already accepted (queued in the
   * scheduler: see admit()) and waits for its in-flight leases, releases its sessions and forgets
   * it (UNLOADED). Resolves at once for an unknown version.
   */
  unload(name: string, version: number): Promise<void> {
    const entry = this.#entry(name, version);
    if (!entry) return Promise.resolve();
    // Queued loads are moot once the version is going away; a running one is discarded on arrival.
    const key = keyOf(name, version);
    this.#operations.dropWaitingLoads(
      key,
      (path) => new SwitchyardError('VERSION_NOT_FOUND', `${name} version ${version} was unloaded before ${path} loaded`),
    );
    entry.drain();
    return this.#operations.unload(key, () => this.#runUnload(entry));
  }

  /**
   * Borrows the version's serving session. Synchronous: this is the hot path. Throws
   * MODEL_NOT_FOUND / VERSION_NOT_FOUND (404) for unknown names, VERSION_NOT_READY (503) for a
   * version with nothing to serve (loading, failed first load, draining), SHUTTING_DOWN once
   * close() has started.
   */
  acquire(name: string, version: number): ModelLease {
    if (this.#closing) throw shuttingDown(name, version);
    const versions = this.#models.get(name);
    if (!versions) throw new SwitchyardError('MODEL_NOT_FOUND', `Model "${name}" is not loaded`, { details: { name } });
    const entry = versions.get(version);
    if (!entry || entry.state === VersionState.UNLOADED) {
      throw new SwitchyardError('VERSION_NOT_FOUND', `Model "${name}" has no version ${version}`, {
        details: { name, version, versions: this.knownVersions(name) },
      });
    }
    const serving = entry.leasable;
    if (!serving) {
      const why = entry.reason === undefined ? '' : `: ${entry.reason}`;
      throw new SwitchyardError('VERSION_NOT_READY', `Model "${name}" version ${version} is ${entry.state}${why}`, {
        details: { name, version, state: entry.state, reason: entry.reason },
        retryAfterSeconds: 1,
      });
    }
    return serving.lease(name, version);
  }

  /**
   * A session the runtime lost (its worker thread died): finds the versions it served, by identity
   * (another version loaded from the same file, on another worker, is not touched). A version left
   * with no live instance leaves the rotation at once (LOADING, with `reason`, until it is loaded
   * again); one whose group still has live instances keeps serving on them. Returns the versions
   * to load again (not those being unloaded); loading them is the caller's policy
   * (LostSessionReloader).
   */
  sessionLost(session: InferenceSession, reason: string): LostVersion[] {
    const lost: LostVersion[] = [];
    for (const versions of this.#models.values()) {
      for (const entry of versions.values()) {
        const active = entry.activeSession;
        if (!active || !sessionInstances(active.session).includes(session)) continue;
        const whole = active.session.lostReason !== undefined;
        if (whole) entry.loseActive(`its session was lost when its worker thread exited (${reason}); reloading`);
        // A version being unloaded is not brought back: its drain ends with the session it had.
        if (entry.unloadRequested) continue;
        lost.push({ name: entry.name, version: entry.version, path: active.path, servable: !whole && entry.serving !== undefined });
      }
    }
    return lost;
  }

  /**
   * A request for the version was accepted (the scheduler queued it); call the returned function
   * once it is answered. An unload serves every accepted request before it lets the session go:
   * acquire() keeps leasing a DRAINING version's session while any is unanswered. Synchronous and
   * cheap (the hot path); a no-op for an unknown version.
   */
  admit(name: string, version: number): () => void {
    return this.#entry(name, version)?.admit() ?? NOTHING_ADMITTED;
  }

  /** Names with at least one known version, sorted. */
  models(): string[] {
    return [...this.#models.keys()].sort();
  }

  has(name: string): boolean {
    return this.#models.has(name);
  }

  /** Every known version of a model with its state, ascending; empty for an unknown model. */
  versions(name: string): VersionStatus[] {
    const versions = this.#models.get(name);
    if (!versions) return [];
    return [...versions.values()].sort((a, b) => a.version - b.version).map((entry) => entry.status(this.#closing));
  }

  /** One version's status, or undefined. */
  status(name: string, version: number): VersionStatus | undefined {
    return this.#entry(name, version)?.status(this.#closing);
  }

  /**
   * Versions acquire() would serve right now, ascending. This includes a FAILED version still
   * serving its older session; use versions() to tell READY ones apart.
   */
  servableVersions(name: string): number[] {
    // On every routed request: no status objects, just the versions.
    const versions = this.#models.get(name);
    if (!versions || this.#closing) return [];
    const servable: number[] = [];
    for (const entry of versions.values()) if (entry.serving !== undefined) servable.push(entry.version);
    return servable.sort((a, b) => a - b);
  }

  /** Every version the registry knows of, in any state, ascending. */
  knownVersions(name: string): number[] {
    const versions = this.#models.get(name);
    return versions ? [...versions.keys()].sort((a, b) => a - b) : [];
  }

  stats(): RegistryStats {
    return { ...this.#stats };
  }

  /**
   * Refuses new acquires, then waits, all within one timeout, for in-flight leases, running loads
   * and session releases; leases still out after it lose their session, and loads still running
   * are left to discard their session when (if) it arrives: a hung load cannot hold close().
   * Does not close the runtime. Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closePromise ??= this.#close(options.timeoutMs ?? this.#closeTimeoutMs);
    return this.#closePromise;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    const deadline = performance.now() + Math.max(0, timeoutMs);
    const remaining = () => Math.max(0, deadline - performance.now());
    const entries = [...this.#models.values()].flatMap((versions) => [...versions.values()]);
    for (const entry of entries) {
      this.#operations.settleWaiting(keyOf(entry.name, entry.version), (kind) =>
        kind === 'unload' ? undefined : shuttingDown(entry.name, entry.version),
      );
      entry.closeDown();
    }
    await settlesWithin(Promise.all(entries.map((entry) => entry.retiredReleased())), remaining());
    // Leases still out after the timeout lose their session: shutdown must finish.
    for (const entry of entries) entry.releaseRetired();
    // Loads already inside onnxruntime cannot be cancelled; they discard their session on arrival.
    const drained = (async () => {
      await this.#operations.idle();
      while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    })();
    await settlesWithin(drained, remaining());
    for (const entry of entries) {
      if (entry.state !== VersionState.UNLOADED) {
        entry.finishUnload();
        this.emit('unloaded', { name: entry.name, version: entry.version });
      }
    }
    this.#models.clear();
  }

  #entry(name: string, version: number): VersionLifecycle | undefined {
    return this.#models.get(name)?.get(version);
  }

  /** Resolves once `path` serves; rejects (after recording FAILED) when it could not go live. */
  async #runLoad(entry: VersionLifecycle, path: string): Promise<void> {
    if (this.#closing) throw shuttingDown(entry.name, entry.version);
    if (!this.#entry(entry.name, entry.version)) this.#remember(entry);
    entry.beginLoad();

    let prepared: PreparedSession;
    try {
      prepared = await this.#withinLoadTimeout(entry, path, this.#prepare(entry, path));
    } catch (error) {
      throw this.#loadFailed(entry, path, error);
    }
    const { session, warmup } = prepared;

    if (this.#closing || entry.unloadRequested) {
      // The version is going away while this file loaded: it must not go live.
      this.#discard(entry, session, path);
      return;
    }

    const previous = entry.goLive(session, path, warmup);
    if (warmup.lastError !== undefined) {
      this.emit('warmup-failed', { name: entry.name, version: entry.version, path, reason: warmup.lastError });
    }
    this.emit('loaded', { name: entry.name, version: entry.version, path, signature: session.signature, reload: previous !== undefined });
    if (previous) {
      this.#stats.swaps += 1;
      this.emit('swapped', { name: entry.name, version: entry.version, path, previousPath: previous.path });
      entry.retire(previous, 'swapped');
    }
  }

  /**
   * A standby session of `path`, loaded and warmed up; one whose warmup fails is released. The
   * warmup plan (samples read from disk) comes first: a bad sample folder costs no session load.
   */
  async #prepare(entry: VersionLifecycle, path: string): Promise<PreparedSession> {
    const plan: WarmupPlan | undefined = this.#warmup ? ((await this.#warmupFor?.(entry.name, entry.version, path)) ?? {}) : undefined;
    const settings = this.#loadSettingsFor?.(entry.name) ?? {};
    const sessionOptions = { ...this.#sessionOptions, ...settings.sessionOptions };
    const session = await loadSessionInstances(this.#runtime, path, sessionOptions, settings.instances ?? 1);
    this.#stats.sessionsLoaded += 1;
    if (!plan) return { session, warmup: noWarmup('off') };
    try {
      return { session, warmup: await warmUp(session, plan, path) };
    } catch (error) {
      this.#discard(entry, session, path);
      throw error;
    }
  }

  /**
   * Settles as `preparing` does, or rejects with "load timed out after N ms" once the load timeout
   * passes. onnxruntime cannot be interrupted, so a load that timed out keeps running in the
   * background (close() waits for it within its budget) and its session is released on arrival.
   */
  #withinLoadTimeout(entry: VersionLifecycle, path: string, preparing: Promise<PreparedSession>): Promise<PreparedSession> {
    const timeoutMs = this.#loadTimeoutMs;
    return new Promise<PreparedSession>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        const late: Promise<void> = preparing
          .then(({ session }) => this.#discard(entry, session, path), () => undefined)
          .finally(() => this.#background.delete(late));
        this.#background.add(late);
        reject(new ModelLoadError(`load timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      preparing.then(
        (session) => {
          clearTimeout(timer);
          if (!timedOut) resolve(session);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (!timedOut) reject(error);
        },
      );
    });
  }

  /** Records a failed load; returns the error its callers get. */
  #loadFailed(entry: VersionLifecycle, path: string, error: unknown): ModelLoadError {
    this.#stats.loadFailures += 1;
    const reason = messageOf(error);
    const failure = error instanceof ModelLoadError ? error : new ModelLoadError(reason, { cause: error });
    // An unload or close that arrived meanwhile owns the state now.
    if (!this.#closing && entry.recordFailure(reason)) {
      this.emit('failed', { name: entry.name, version: entry.version, path, reason, serving: entry.hasSession });
    }
    return failure;
  }

  async #runUnload(entry: VersionLifecycle): Promise<void> {
    // Requests accepted before the drain still run on this session; new ones are refused meanwhile.
    await entry.admittedAnswered();
    entry.retireActive('unloaded');
    await entry.retiredReleased();
    entry.finishUnload();
    // Forgotten before the waiters hear about it, so they never see an UNLOADED leftover.
    if (!this.#operations.hasWaiting(keyOf(entry.name, entry.version))) this.#forget(entry);
    this.emit('unloaded', { name: entry.name, version: entry.version });
  }

  #remember(entry: VersionLifecycle): void {
    let versions = this.#models.get(entry.name);
    if (!versions) {
      versions = new Map();
      this.#models.set(entry.name, versions);
    }
    versions.set(entry.version, entry);
  }

  #forget(entry: VersionLifecycle): void {
    const versions = this.#models.get(entry.name);
    if (versions?.get(entry.version) !== entry) return;
    versions.delete(entry.version);
    if (versions.size === 0) this.#models.delete(entry.name);
  }

  /** Frees a standby session that never went live. */
  #discard(entry: VersionLifecycle, session: InferenceSession, path: string): void {
    void this.#freeSession(entry.name, entry.version, session, path, 'discarded');
  }

  #freeSession(name: string, version: number, session: InferenceSession, path: string, cause: ReleaseCause): Promise<void> {
    // Counted when decided, not when onnxruntime finishes, so callers see it right after the last lease ends.
    this.#stats.sessionsReleased += 1;
    this.emit('released', { name, version, path, cause });
    const done: Promise<void> = session
      .release()
      .catch((error: unknown) => {
        if (this.listenerCount('error') > 0) {
          this.emit('error', new Error(`releasing ${name} version ${version} failed: ${messageOf(error)}`, { cause: error }));
        }
      })
      .finally(() => this.#background.delete(done));
    this.#background.add(done);
    return done;
  }
}

/** The operation queue's key of a version (names never hold NUL). */
function keyOf(name: string, version: number): string {
  return `${name}\u0000${version}`;
}

function shuttingDown(name: string, version: number): SwitchyardError {
  return new SwitchyardError('SHUTTING_DOWN', `The registry is closing; ${name} version ${version} takes no new work`, {
    details: { name, version },
  });
}

