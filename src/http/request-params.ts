/**
 * Path and header parameters shared by every protocol: model names, version specs (integer or
 * alias) and deadlines, each validated with a message that says what is allowed. Names and
 * versions follow the repository's rules (src/repository/model-name.ts), aliases the routing
 * table's (src/routing/route-target.ts): nothing is defined twice.
 */
import { SwitchyardError } from '../errors.js';
import { isValidModelName, MODEL_NAME_RULE, parseVersion, VERSION_RULE } from '../repository/model-name.js';
import { isValidAlias } from '../routing/route-target.js';

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

/** `x-request-timeout-ms` (or a protocol's timeout) -> absolute deadline, epoch ms. */
export function deadlineFromTimeout(raw: string | number | undefined, now = Date.now()): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const ms = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new SwitchyardError('INVALID_REQUEST', `invalid timeout '${String(raw)}': a positive number of milliseconds`);
  }
  return now + ms;
}
