/**
 * Path and header parameters shared by every protocol: model names, version specs (integer or
 * alias) and deadlines, each validated with a message that says what is allowed. Names and
 * versions follow the repository's rules (src/repository/model-name.ts), aliases the routing
 * table's (src/routing/route-target.ts): nothing is defined twice.
 */
import { SwitchyardError } from '../errors.js';
import { isValidModelName, MODEL_NAME_RULE, parseVersion, VERSION_RULE } from '../repository/model-name.js';
import { isValidAlias } from '../routing/route-target.js';
import { MAX_TIMER_DELAY_MS } from '../scheduling/timer-delay.js';

export function assertModelName(name: string): string {
  if (!isValidModelName(name)) {
    throw new SwitchyardError('INVALID_MODEL_NAME', `invalid model name '${name.slice(0, 140)}': use ${MODEL_NAME_RULE}`);
  }
  return name;
}

/** A version spec is a version or an alias; returned unchanged for the router. */
export function assertVersionSpec(spec: string): string {
  if (parseVersion(spec) === undefined && !isValidAlias(spec)) {
    throw new SwitchyardError(
      'INVALID_MODEL_NAME',
      `invalid version '${spec.slice(0, 80)}': use ${VERSION_RULE}, or an alias like 'stable' ([a-z][a-z0-9_-]*)`,
    );
  }
  return spec;
}

/**
 * The longest timeout any route takes: 2^31 - 1 ms (about 24.8 days), the most a Node timer holds.
 * A longer one would not wait longer: Node fires it after 1 ms, so a queued request would get 504
 * at once.
 */
export const MAX_TIMEOUT_MS = MAX_TIMER_DELAY_MS;

const TIMEOUT_RULE = `a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (about 24.8 days)`;

/**
 * The one timeout rule of every route (native, V2, async submit, POST /jobs): more than 0 and at
 * most MAX_TIMEOUT_MS, else 400 INVALID_REQUEST naming `what` (where the value came from and as
 * the client wrote it). Refused rather than clamped: a client asking for more than the gateway
 * can wait should learn it, not get a shorter deadline than it asked for.
 */
export function checkTimeoutMs(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_TIMEOUT_MS) {
    throw new SwitchyardError('INVALID_REQUEST', `invalid timeout: ${what}; the timeout must be more than 0 and at most ${MAX_TIMEOUT_MS} ms (about 24.8 days)`);
  }
  return ms;
}

/** `x-request-timeout-ms` -> milliseconds (undefined when absent): digits only, then checkTimeoutMs. */
export function timeoutHeaderMs(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,16}$/.test(raw)) {
    throw new SwitchyardError('INVALID_REQUEST', `invalid timeout: x-request-timeout-ms '${raw.slice(0, 40)}'; use ${TIMEOUT_RULE}`);
  }
  return checkTimeoutMs(Number(raw), `x-request-timeout-ms '${raw}'`);
}

/** `x-request-timeout-ms` -> absolute deadline, epoch ms (undefined when absent). */
export function deadlineFromTimeout(raw: string | undefined, now = Date.now()): number | undefined {
  const ms = timeoutHeaderMs(raw);
  return ms === undefined ? undefined : now + ms;
}

/** The V2 `timeout` parameter (microseconds, Triton's unit) -> absolute deadline, under the same rule. */
export function deadlineFromTimeoutMicros(micros: number | undefined, now = Date.now()): number | undefined {
  if (micros === undefined) return undefined;
  return now + checkTimeoutMs(micros / 1000, `parameter "timeout" ${micros} µs`);
}
