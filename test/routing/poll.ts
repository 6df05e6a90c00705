/** Polling helpers for the routing tests: propagation is asserted as "observed within N ms by polling". */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe` until `done` accepts its value or `withinMs` has passed since the call; returns
 * whether it was observed in time and the last value seen (for the failure message).
 */
export async function observeWithin<T>(
  withinMs: number,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  intervalMs = 5,
): Promise<{ observed: boolean; last: T | undefined }> {
  const deadline = performance.now() + withinMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await probe();
      if (done(last)) return { observed: true, last };
    } catch (error) {
      last = error as T;
    }
    if (performance.now() >= deadline) return { observed: false, last };
    await sleep(intervalMs);
  }
}

/** The error a promise rejects with, or a failure when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<{ code?: string; status?: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; status?: number; message: string };
  }
  throw new Error('expected a rejection, got a value');
}
