/**
 * Waiting in tests: poll a condition until it holds (eventually) or check that it keeps holding
 * (consistently). Both are bounded by time and by count, and neither is a verdict on speed: a
 * slow machine only makes eventually wait longer and consistently look harder.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How often eventually and consistently look; small enough to add little to a test. */
const POLL_MS = 25;

/**
 * Polls until `check` returns true; fails after `timeoutMs` (default 10 s) naming `what`, which
 * may be a function called on failure to say what was seen instead. A check that throws fails at
 * once (catch inside the check what should only mean "not yet").
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what: string | (() => string | Promise<string>) = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Each round sleeps POLL_MS, so the count bound is reached no sooner than the deadline.
  const maxPolls = Math.ceil(timeoutMs / POLL_MS) + 1;
  for (let poll = 0; poll < maxPolls; poll++) {
    if (await check()) return;
    if (Date.now() > deadline) break;
    await sleep(POLL_MS);
  }
  const description = typeof what === 'function' ? await what() : what;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
}

/**
 * Checks `check` for `durationMs`, failing at the first false: for things that must not happen
 * (an edit seen without its announcement, a file loaded before it settled).
 */
export async function consistently(check: () => boolean | Promise<boolean>, durationMs: number, what = 'condition'): Promise<void> {
  const end = Date.now() + durationMs;
  const maxPolls = Math.ceil(durationMs / POLL_MS) + 1;
  for (let poll = 0; poll < maxPolls; poll++) {
    if (!(await check())) throw new Error(`${what} stopped holding at check ${poll + 1}`);
    if (Date.now() >= end) return;
    await sleep(POLL_MS);
  }
}

/**
 * How `promise` settled within `ms`: 'resolved', 'rejected: <error>', or 'never settled' when the
 * bound passed first. For operations that must not be lost (a lost one hangs forever): the bound
 * only turns a hang into a readable failure.
 */
export async function outcomeWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('never settled'), ms)));
  try {
    return await Promise.race([promise.then(() => 'resolved', (error: unknown) => `rejected: ${String(error)}`), bound]);
  } finally {
    clearTimeout(timer);
  }
}
