/**
 * The loads and unloads of model versions: one at a time per version, in the order asked, and
 * none ever lost. Each operation joins its version's KeyedSerialQueue chain the moment it is asked
 * for, so there is no "is anything running?" flag to get wrong. (The flag-and-loop pump this
 * replaces cleared its flag a microtask after it found its queue empty; an operation queued in
 * that microtask never ran and its promise never settled.)
 *
 * Two rules on top of plain ordering keep reload storms cheap: a load asked while another load of
 * the same version is waiting to start joins it and moves it to the newest file, and an unload
 * drops the loads still waiting (rejected with the caller's reason). Callers of a joined operation share
 * its promise.
 */
import { KeyedSerialQueue } from './keyed-serial-queue.js';

export type OperationKind = 'load' | 'unload';

interface QueuedOperation {
  readonly kind: OperationKind;
  /** The newest file asked for (loads); later joins replace it until the operation starts. */
  path: string;
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
  /** Started, or settled before its turn (dropped, or closed): nobody else may run or settle it. */
  claimed: boolean;
}

export class VersionOperationQueue {
  readonly #serial = new KeyedSerialQueue<string>();
  /** Per version key: operations asked for and not started yet, in order. */
  readonly #waiting = new Map<string, QueuedOperation[]>();

  /**
   * Runs `run` with the newest path once every earlier operation of `key` has finished; settles as
   * it does. Joins a load of `key` that is still waiting instead, if the last waiting one is a load.
   */
  load(key: string, path: string, run: (path: string) => Promise<void>): Promise<void> {
    const last = this.#waiting.get(key)?.at(-1);
    if (last?.kind === 'load') {
      last.path = path;
      return last.done;
    }
    return this.#enqueue(key, 'load', path, run);
  }

  /** Like load(); joins the last waiting operation of `key` when that is an unload. */
  unload(key: string, run: () => Promise<void>): Promise<void> {
    const last = this.#waiting.get(key)?.at(-1);
    if (last?.kind === 'unload') return last.done;
    return this.#enqueue(key, 'unload', '', run);
  }

  /** Rejects every load of `key` that has not started (they will not run); an unload is coming. */
  dropWaitingLoads(key: string, reason: (path: string) => unknown): void {
    const waiting = this.#waiting.get(key);
    if (!waiting) return;
    for (const op of waiting) if (op.kind === 'load') this.#settle(op, reason(op.path));
    this.#prune(key, waiting.filter((op) => op.kind !== 'load'));
  }

  /** True while an operation of `key` waits to start. */
  hasWaiting(key: string): boolean {
    return (this.#waiting.get(key)?.length ?? 0) > 0;
  }

  /**
   * Settles every operation of `key` that has not started (none of them will run): rejected with
   * what `outcome` returns, resolved when it returns undefined. For close().
   */
  settleWaiting(key: string, outcome: (kind: OperationKind) => unknown): void {
    for (const op of this.#waiting.get(key) ?? []) this.#settle(op, outcome(op.kind));
    this.#waiting.delete(key);
  }

  /** Resolves once no operation runs or waits (including ones queued while waiting for this). */
  idle(): Promise<void> {
    return this.#serial.idle();
  }

  #enqueue(key: string, kind: OperationKind, path: string, run: (path: string) => Promise<void>): Promise<void> {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const op: QueuedOperation = { kind, path, done, resolve, reject, claimed: false };
    const waiting = this.#waiting.get(key);
    if (waiting) waiting.push(op);
    else this.#waiting.set(key, [op]);

    void this.#serial.run(key, async () => {
      const rest = this.#waiting.get(key)?.filter((other) => other !== op);
      if (rest) this.#prune(key, rest);
      if (op.claimed) return;
      op.claimed = true;
      try {
        await run(op.path);
        op.resolve();
      } catch (error) {
        op.reject(error);
      }
    });
    return done;
  }

  #settle(op: QueuedOperation, error: unknown): void {
    if (op.claimed) return;
    op.claimed = true;
    if (error === undefined) op.resolve();
    else op.reject(error);
  }

  #prune(key: string, waiting: QueuedOperation[]): void {
    if (waiting.length === 0) this.#waiting.delete(key);
    else this.#waiting.set(key, waiting);
  }
}
