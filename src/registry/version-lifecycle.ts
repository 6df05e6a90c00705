/**
 * One model version inside the registry: its state (see version-state.ts for the diagram), the
 * reason of its last failure, the session that serves it and the retired ones still finishing
 * leases. Each method is one transition of the lifecycle; the registry decides when to take it
 * (it owns the operation queue, the runtime and the events).
 */
import type { InferenceSession } from '../runtime/inference-runtime.js';
import { LeasedSession, type FreeSession, type ReleaseCause } from './leased-session.js';
import { VersionState, type VersionStatus } from './version-state.js';
import type { WarmupReport } from './version-warmup.js';

export interface VersionLifecycleHooks {
  /** Every state change after the first (the registry announces the initial LOADING itself). */
  stateChanged(state: VersionState, previous: VersionState | undefined): void;
  /** Gives a session of this version back to the runtime. */
  free: FreeSession;
}

export class VersionLifecycle {
  readonly name: string;
  readonly version: number;
  readonly #hooks: VersionLifecycleHooks;
  #state: VersionState = VersionState.LOADING;
  #reason: string | undefined;
  #active: LeasedSession | undefined;
  /** How the active session was warmed up. */
  #warmup: WarmupReport | undefined;
  /** Swapped-out or unloaded sessions still serving leases. */
  readonly #retired = new Set<LeasedSession>();
  /** Set by drain(): a load finishing now must not go live. */
  #unloadRequested = false;
  /** Requests accepted for this version and not answered yet (admit()); a drain serves them first. */
  #admitted = 0;
  #admittedAnswered: Array<() => void> = [];

  /** A version starts LOADING (its first load is about to run). */
  constructor(name: string, version: number, hooks: VersionLifecycleHooks) {
    this.name = name;
    this.version = version;
    this.#hooks = hooks;
  }

  get state(): VersionState {
    return this.#state;
  }

  get reason(): string | undefined {
    return this.#reason;
  }

  /** True while an unload (or close) is under way: nothing new goes live or gets leased. */
  get unloadRequested(): boolean {
    return this.#unloadRequested;
  }

  /** The session that serves, or undefined (never loaded, draining, unloaded). */
  get serving(): LeasedSession | undefined {
    return this.#unloadRequested ? undefined : this.#active;
  }

  /** The session that went live and is not retired yet, draining or not. */
  get activeSession(): LeasedSession | undefined {
    return this.#active;
  }

  /**
   * What acquire() may lease: the serving session, and during a drain the draining one for as
   * long as requests accepted before it are still to be answered (nothing accepted is dropped).
   */
  get leasable(): LeasedSession | undefined {
    if (!this.#unloadRequested) return this.#active;
    return this.#admitted > 0 ? this.#active : undefined;
  }

  /** A request was accepted for this version; call the returned function once it is answered. */
  admit(): () => void {
    this.#admitted += 1;
    let answered = false;
    return () => {
      if (answered) return;
      answered = true;
      this.#admitted -= 1;
      if (this.#admitted > 0) return;
      const waiters = this.#admittedAnswered;
      this.#admittedAnswered = [];
      for (const wake of waiters) wake();
    };
  }

  /** Settles once every accepted request has been answered. */
  admittedAnswered(): Promise<void> {
    if (this.#admitted === 0) return Promise.resolve();
    return new Promise((resolve) => this.#admittedAnswered.push(resolve));
  }

  /** True when there is a session that went live (even if a drain has begun). */
  get hasSession(): boolean {
    return this.#active !== undefined;
  }

  /** A (re)load starts: RELOADING while an older session serves, else LOADING. Cancels a pending drain flag. */
  beginLoad(): void {
    this.#unloadRequested = false;
    this.#moveTo(this.#active ? VersionState.RELOADING : VersionState.LOADING);
  }

  /** The loaded, warmed-up session goes live (READY). Returns the one it replaced, still to be retired. */
  goLive(session: InferenceSession, path: string, warmup?: WarmupReport): LeasedSession | undefined {
    const previous = this.#active;
    this.#warmup = warmup;
    this.#active = new LeasedSession(session, path, (slot, cause) => {
      this.#retired.delete(slot);
      return this.#hooks.free(slot.session, slot.path, cause);
    });
    this.#reason = undefined;
    this.#moveTo(VersionState.READY);
    return previous;
  }

  /** A load failed: FAILED with the reason, unless a drain owns the state now. True when recorded. */
  recordFailure(reason: string): boolean {
    if (this.#unloadRequested) return false;
    this.#reason = reason;
    this.#moveTo(VersionState.FAILED);
    return true;
  }

  /**
   * The serving session died with its worker thread: out of service at once (runs still out on it
   * fail by themselves), LOADING with `reason` until a reload brings a new one. During a drain the
   * state is the drain's.
   */
  loseActive(reason: string): void {
    this.retireActive('lost');
    if (this.#unloadRequested) return;
    this.#reason = reason;
    this.#moveTo(VersionState.LOADING);
  }

  /** An unload begins: DRAINING; new leases are refused and a load finishing now is discarded. */
  drain(): void {
    this.#unloadRequested = true;
    this.#moveTo(VersionState.DRAINING);
  }

  /** The registry closes: like drain() (an already UNLOADED version stays so), and the session retires. */
  closeDown(): void {
    this.#unloadRequested = true;
    if (this.#state !== VersionState.UNLOADED) this.#moveTo(VersionState.DRAINING);
    this.retireActive('closed');
  }

  /** Takes the serving session out of service; it is freed once its leases end. */
  retireActive(cause: ReleaseCause): void {
    const active = this.#active;
    this.#active = undefined;
    if (active) this.retire(active, cause);
  }

  retire(session: LeasedSession, cause: ReleaseCause): void {
    this.#retired.add(session);
    session.retire(cause);
  }

  /** Settles once every retired session has been freed. */
  retiredReleased(): Promise<void> {
    return Promise.all([...this.#retired].map((session) => session.whenReleased)).then(() => undefined);
  }

  /** Frees the retired sessions now, leases or not (the close timeout passed). */
  releaseRetired(): void {
    for (const session of [...this.#retired]) session.release();
  }

  /** The drain finished (every session freed): UNLOADED. */
  finishUnload(): void {
    this.#reason = undefined;
    this.#unloadRequested = false;
    this.#moveTo(VersionState.UNLOADED);
  }

  /** As the registry reports it; `closing` makes nothing servable. */
  status(closing: boolean): VersionStatus {
    let inFlight = this.#active?.inFlight ?? 0;
    for (const session of this.#retired) inFlight += session.inFlight;
    const active = this.#active;
    return {
      name: this.name,
      version: this.version,
      state: this.#state,
      ...(this.#reason === undefined ? {} : { reason: this.#reason }),
      servable: !closing && !this.#unloadRequested && active !== undefined,
      ...(active ? { signature: active.session.signature, loadedAt: active.loadedAt, path: active.path } : {}),
      ...(active && this.#warmup ? { warmup: this.#warmup } : {}),
      inFlight,
    };
  }

  #moveTo(state: VersionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#hooks.stateChanged(state, previous);
  }
}
