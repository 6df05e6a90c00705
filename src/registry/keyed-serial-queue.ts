/**
 * Runs async tasks one after another per key, in the order they were queued; different keys run
 * independently. Each key's queue is a promise chain: a task is chained onto the key's tail the
 * moment it is queued (and starts at once, synchronously, when the key has none), and the tail is
 * deleted once it settles with nothing queued behind it. No flag says "running", so no task can be
 * queued into a gap where nobody will run it.
 *
 * p-queue (one PQueue of concurrency 1 per key) would do the same with more surface: its clear()
 * drops tasks without settling their promises, and idle per-key queues would still need deleting.
 */

export class KeyedSerialQueue<K> {
  /** Settles after the last task queued under the key has; never rejects. */
  readonly #tails = new Map<K, Promise<void>>();

  /** Runs `task` once every task queued earlier under `key` has settled; settles as `task` does. */
  run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    let settled!: () => void;
    const tail = new Promise<void>((resolve) => (settled = resolve));
    // Registered before the task starts, so a task queued from inside this one waits for it.
    this.#tails.set(key, tail);
    void tail.then(() => {
      // A task queued meanwhile replaced the tail; that one deletes it when its turn ends.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    const result = previous === undefined ? start(task) : previous.then(task);
    result.then(settled, settled);
    return result;
  }

  /** Keys with a task running or queued. */
  get size(): number {
    return this.#tails.size;
  }

  /** Resolves once no task runs or waits under any key (including tasks queued meanwhile). */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}

/** Calls the task now; a synchronous throw becomes a rejection like any other failure. */
function start<T>(task: () => Promise<T>): Promise<T> {
  try {
    return task();
  } catch (error) {
    return Promise.reject(error);
  }
}
