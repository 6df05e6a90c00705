/**
 * Looking up what a request names: the model (404 when the repository has no such model, 503
 * when it is there but unloaded) and a version's signature (404 when gone, 503 while not READY).
 * Shared by every protocol's routes.
 */
import { isSwitchyardError, SwitchyardError } from '../errors.js';
import type { ModelSignature } from '../tensor.js';
import type { HttpServices } from './http-services.js';
import { assertModelName } from './request-params.js';

export function signatureOf(services: HttpServices, model: string, version: number): ModelSignature {
  const view = services.catalog.status(model, version);
  if (!view) throw new SwitchyardError('VERSION_NOT_FOUND', `model '${model}' has no version ${version}`);
  if (!view.signature) {
    throw new SwitchyardError(
      'VERSION_NOT_READY',
      `model '${model}' version ${version} is ${view.state}${view.reason ? `: ${view.reason}` : ''}`,
      { retryAfterSeconds: 1 },
    );
  }
  return view.signature;
}

/**
 * The signature a request to a version is decoded against: this process's own when it has the
 * version loaded, else (scale-out) the one another node or backend serving it reports; without
 * either, the error signatureOf gives (404 gone, 503 not READY).
 */
export function servingSignature(services: HttpServices, model: string, version: number): ModelSignature | Promise<ModelSignature> {
  const own = services.catalog.status(model, version)?.signature;
  if (own) return own;
  return services.remote?.signature(model, version) ?? signatureOf(services, model, version);
}

/**
 * Decodes a request against servingSignature. When the signature came from another node and the
 * inputs do not match it, the version may have been reloaded there with another shape: the
 * signature is read again (at most about once a second) and the request decoded once more.
 */
export async function decodeForVersion<T>(services: HttpServices, model: string, version: number, decode: (signature: ModelSignature) => T): Promise<T> {
  const signature = await servingSignature(services, model, version);
  try {
    return decode(signature);
  } catch (error) {
    const remote = services.remote;
    const own = services.catalog.status(model, version)?.signature;
    if (own || !remote || !isSwitchyardError(error) || error.code !== 'INVALID_INPUT' || !remote.invalidate(model, version)) throw error;
    const fresh = await remote.signature(model, version);
    if (!fresh || JSON.stringify(fresh) === JSON.stringify(signature)) throw error;
    return decode(fresh);
  }
}

/**
 * The model a request names must be one the gateway serves: 404 MODEL_NOT_FOUND when neither the
 * registry nor the repository has it (never there, or its folder deleted); 503 VERSION_NOT_READY
 * when its files are in the repository but it was unloaded (repository API or admin API), until
 * it is loaded again. Shared by native predict, async jobs and every V2 model endpoint.
 */
export function assertModelExists(services: HttpServices, model: string): void {
  assertModelName(model);
  if (services.catalog.has(model)) return;
  if (services.remote?.has(model)) return;
  if (unloadedVersions(services, model)) {
    throw new SwitchyardError(
      'VERSION_NOT_READY',
      `model '${model}' is in the repository but not loaded (POST /v2/repository/models/${model}/load or POST /admin/models/${model}/load loads it)`,
      { details: { model, state: 'UNLOADED' }, retryAfterSeconds: 1 },
    );
  }
  throw new SwitchyardError('MODEL_NOT_FOUND', `no model named '${model}' in the repository`);
}

/**
 * The version folders on disk of a model the registry holds no version of (it was unloaded), or
 * undefined when the registry has the model or the repository does not.
 */
export function unloadedVersions(services: HttpServices, model: string): readonly number[] | undefined {
  if (services.catalog.has(model)) return undefined;
  const versions = services.repository?.list().find((entry) => entry.name === model)?.versions;
  return versions && versions.length > 0 ? versions : undefined;
}
