/**
 * One active health probe of a static V2 backend, and what a run of them means: a subject (a URL's
 * readiness, or one version at a URL) starts unhealthy, its first pass admits it, a failure takes
 * it out at once, and after a failure it needs `healthyAfterPasses` consecutive passes to come
 * back (so a flapping server is not sent traffic on every lucky answer). Kept apart from the
 * sources (src/cluster/static-backends.ts) so the rule reads in one place.
 */
import { messageOf } from '../errors.js';

export interface ProbeState {
  healthy: boolean;
  /** Consecutive passes since the last failure. */
  passes: number;
  /** Passes needed to become healthy: 1 until the first failure, then healthyAfterPasses. */
  needed: number;
  lastError: string | undefined;
}

export function newProbeState(): ProbeState {
  return { healthy: false, passes: 0, needed: 1, lastError: 'not probed yet' };
}

/** Applies one outcome (undefined = passed, else why it failed); true when `healthy` changed. */
export function recordProbe(state: ProbeState, failure: string | undefined, healthyAfterPasses: number): boolean {
  const was = state.healthy;
  if (failure !== undefined) failProbe(state, failure, healthyAfterPasses);
  else {
    state.passes++;
    state.lastError = undefined;
    if (state.passes >= state.needed) state.healthy = true;
  }
  return was !== state.healthy;
}

/** A failure (or a reason to count as one, e.g. the server is not ready): out, passes start over. */
export function failProbe(state: ProbeState, reason: string, healthyAfterPasses: number): void {
  state.healthy = false;
  state.passes = 0;
  state.needed = healthyAfterPasses;
  state.lastError = reason;
}

export interface ProbeOptions {
  /** A probe without a 2xx answer within this fails. */
  readonly timeoutMs: number;
  /** Aborts the probe (closing). */
  readonly signal: AbortSignal;
}

/**
 * GET `url`: undefined when it answered 2xx in time, else why not (a redirect fails too: a base
 * URL that moved is a configuration error). Never throws; the body is not read.
 */
export async function probeUrl(url: string, options: ProbeOptions): Promise<string | undefined> {
  try {
    const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), options.signal]) });
    await response.body?.cancel().catch(() => undefined);
    return response.ok ? undefined : `HTTP ${response.status}`;
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${options.timeoutMs} ms`;
    // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND, a reset).
    const cause = error instanceof Error && error.cause !== undefined ? messageOf(error.cause) : undefined;
    return cause ?? messageOf(error);
  }
}
