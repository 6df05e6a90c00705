/**
 * Path and header parameters shared by every protocol: model names, version specs (integer or
 * alias) and deadlines, each validated with a message that says what is allowed.
 */
import { SwitchyardError } from '../errors.js';

const MODEL_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const ALIAS = /^[a-z][a-z0-9_-]{0,63}$/;
const VERSION = /^[1-9]\d{0,8}$/;

export function assertModelName(name: string): string {
  if (!MODEL_NAME.test(name) || name.includes('..')) {
    throw new SwitchyardError(
      'INVALID_MODEL_NAME',
      `invalid model name '${name.slice(0, 140)}': use letters, digits, '_', '.', '-' (starting with a letter or digit, no '..')`,
    );
  }
  return name;
}

/** A version spec is a positive integer or an alias; returned unchanged for the router. */
export function assertVersionSpec(spec: string): string {
  if (!VERSION.test(spec) && !ALIAS.test(spec)) {
    throw new SwitchyardError(
      'INVALID_MODEL_NAME',
      `invalid version '${spec.slice(0, 80)}': use a positive integer or an alias like 'stable' ([a-z][a-z0-9_-]*)`,
    );
  }
  return spec;
}

/** `x-request-timeout-ms` (or a protocol's timeout) -> absolute deadline, epoch ms. */
export function deadlineFromTimeout(raw: string | number | undefined, now = Date.now()): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const ms = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new SwitchyardError('INVALID_REQUEST', `invalid timeout '${String(raw)}': a positive number of milliseconds`);
  }
  return now + ms;
}
