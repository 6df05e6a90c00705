/**
 * Waiting for work with a bound: shutdown steps wait for things that may never end (a load hung
 * inside onnxruntime, a thread stuck in a system call) and must go on without them.
 */

/**
 * True when `work` settled (either way) within `ms`; false when the time ran out first. The work
 * itself goes on; the timer never keeps the process alive.
 */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
    timer.unref();
  });
  try {
    return await Promise.race([work.then(() => true, () => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
