/**
 * What a rollout asks of the registry and the routing table: which version `default` serves now
 * (it must be exactly one READY version) and whether a version is READY. Kept apart so the
 * service and the driver state the same rules in the same words.
 */
import { SwitchyardError } from '../errors.js';
import { RouteTable, type Routes } from '../routing/route-table.js';
import { DEFAULT_ALIAS, formatRouteTarget, parseRouteTarget } from '../routing/route-target.js';

/** The registry, structurally: rollouts only read version states. */
export interface RolloutVersions {
  has(name: string): boolean;
  status(name: string, version: number): { readonly state: string; readonly servable: boolean; readonly reason?: string } | undefined;
  servableVersions(name: string): number[];
}

/** The canonical spelling of a `default` target (undefined: none), so "2:90, 3:10" and "2:90,3:10" compare equal. */
export function canonicalTarget(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try {
    return formatRouteTarget(parseRouteTarget(raw));
  } catch {
    return raw.trim();
  }
}

/** The one version `default` serves now; INVALID_ROLLOUT when it is a split, invalid, or names no version. */
export function currentPrimary(model: string, routes: Routes | undefined, versions: RolloutVersions): number {
  const found = new RouteTable(routes).lookup(DEFAULT_ALIAS);
  if (found.kind === 'missing' || found.kind === 'latest') {
    const latest = versions.servableVersions(model).at(-1);
    if (latest === undefined) throw new SwitchyardError('ROLLOUT_VERSION_NOT_READY', `model '${model}' has no READY version for its default route to serve`);
    return latest;
  }
  if (found.kind === 'invalid') {
    throw new SwitchyardError('INVALID_ROLLOUT', `the default route of model '${model}' is invalid (target "${found.target}" ${found.reason}); fix it before a rollout`);
  }
  if (found.target.kind === 'split') {
    throw new SwitchyardError(
      'INVALID_ROLLOUT',
      `the default route of model '${model}' is already a split (${formatRouteTarget(found.target)}); a rollout starts from one version`,
      { details: { model, default: formatRouteTarget(found.target) } },
    );
  }
  return found.target.version;
}

/** Throws VERSION_NOT_FOUND or ROLLOUT_VERSION_NOT_READY unless the version serves here. */
export function assertReady(model: string, version: number, versions: RolloutVersions, role: 'primary' | 'target'): void {
  const status = versions.status(model, version);
  if (!status) throw new SwitchyardError('VERSION_NOT_FOUND', `model '${model}' has no version ${version}`, { details: { model, version } });
  if (status.state !== 'READY' || !status.servable) {
    throw new SwitchyardError(
      'ROLLOUT_VERSION_NOT_READY',
      `the ${role} version ${version} of model '${model}' is ${status.state}${status.reason ? ` (${status.reason})` : ''}, not READY`,
      { details: { model, version, state: status.state } },
    );
  }
}
