/**
 * Looking up what a request names: the model (404 when the repository has no such model) and a
 * version's signature (404 when gone, 503 while not READY). Shared by every protocol's routes.
 */
import { SwitchyardError } from '../errors.js';
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

export function assertModelExists(services: HttpServices, model: string): void {
  assertModelName(model);
  if (!services.catalog.has(model)) {
    throw new SwitchyardError('MODEL_NOT_FOUND', `no model named '${model}' in the repository`);
  }
}
