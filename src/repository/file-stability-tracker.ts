/**
 * Decides when a file has finished being written.
 *
 * chokidar's awaitWriteFinish only compares sizes, and a writer that rewrites a file in place with
 * the same length (or a truncate followed by a rewrite between two polls) would slip through. Here
 * a file is stable once its size, mtime, ctime and inode have all stayed the same for a whole
 * window; ctime cannot be set back by tools that preserve timestamps, and a changed inode is how an
 * atomic rename shows up.
 */
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';

export interface FileStabilityTrackerOptions {
  /** How long a file must stay unchanged before it counts as written. No default: the owner decides. */
  readonly windowMs: number;
  /** Time between stats while waiting. Default: a fifth of the window, between 10 and 100 ms. */
  readonly pollIntervalMs?: number;
}

/** Everything a stat tells us about whether the bytes may have changed. */
export function fileFingerprint(stats: Stats): string {
  return `${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}:${stats.ino}`;
}

export type StableCallback = (outcome: { stable: true; stats: Stats; fingerprint: string } | { stable: false }) => void;

interface Tracked {
  fingerprint: string | undefined;
  /** Monotonic time of the last observed change (or of the last hint that something changed). */
  changedAt: number;
  timer: NodeJS.Timeout | undefined;
  callback: StableCallback;
}

export class FileStabilityTracker {
  readonly #windowMs: number;
  readonly #pollIntervalMs: number;
  readonly #tracked = new Map<string, Tracked>();
  #closed = false;

  constructor(options: FileStabilityTrackerOptions) {
    this.#windowMs = Math.max(0, options.windowMs);
    this.#pollIntervalMs = options.pollIntervalMs ?? Math.min(100, Math.max(10, Math.floor(this.#windowMs / 5)));
  }

  /** Files still being watched for stability. */
  get pending(): number {
    return this.#tracked.size;
  }

  isTracking(path: string): boolean {
    return this.#tracked.has(path);
  }

  /**
   * Calls back once, when the file has been stable for the window (`stable: true`) or when it
   * vanished or stopped being a regular file (`stable: false`). A second call for a path already
   * being watched only restarts its window: the newest callback wins, the older one is dropped.
   */
  track(path: string, callback: StableCallback): void {
    if (this.#closed) return;
    const existing = this.#tracked.get(path);
    if (existing) {
      existing.callback = callback;
      existing.changedAt = performance.now();
      return;
    }
    const tracked: Tracked = { fingerprint: undefined, changedAt: performance.now(), timer: undefined, callback };
    this.#tracked.set(path, tracked);
    void this.#poll(path, tracked);
  }

  /** Stops watching a path without calling back. */
  cancel(path: string): void {
    const tracked = this.#tracked.get(path);
    if (!tracked) return;
    if (tracked.timer) clearTimeout(tracked.timer);
    this.#tracked.delete(path);
  }

  /** Stops every watch without calling back. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const path of [...this.#tracked.keys()]) this.cancel(path);
  }

  async #poll(path: string, tracked: Tracked): Promise<void> {
    tracked.timer = undefined;
    let stats: Stats | undefined;
    try {
      stats = await stat(path);
    } catch {
      stats = undefined;
    }
    // Cancelled or replaced while the stat was in flight.
    if (this.#tracked.get(path) !== tracked) return;
    if (!stats || !stats.isFile()) {
      this.#tracked.delete(path);
      tracked.callback({ stable: false });
      return;
    }
    const fingerprint = fileFingerprint(stats);
    const now = performance.now();
    if (fingerprint !== tracked.fingerprint) {
      tracked.fingerprint = fingerprint;
      tracked.changedAt = now;
    } else if (now - tracked.changedAt >= this.#windowMs) {
      this.#tracked.delete(path);
      tracked.callback({ stable: true, stats, fingerprint });
      return;
    }
    const remaining = this.#windowMs - (now - tracked.changedAt);
    const delay = Math.max(1, Math.min(this.#pollIntervalMs, Math.ceil(remaining)));
    tracked.timer = setTimeout(() => void this.#poll(path, tracked), delay);
  }
}
