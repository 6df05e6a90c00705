/**
 * The model repository extension's logic, kept out of the routes: the index merges what is on
 * disk with what the registry holds (a FAILED load shows its reason), load (re)loads every
 * version folder of a model found on disk, unload unloads every version the registry knows.
 */
import { SwitchyardError } from '../../errors.js';
import type { HttpServices, ModelLoader, RepositoryListing } from '../http-services.js';

export interface RepositoryIndexEntry {
  readonly name: string;
  readonly version?: string;
  readonly state: string;
  readonly reason: string;
}

function control(services: HttpServices): { repository: RepositoryListing; loader: ModelLoader } {
  if (!services.repository || !services.loader) {
    throw new SwitchyardError('NOT_FOUND', 'the model repository extension is not enabled on this gateway');
  }
  return { repository: services.repository, loader: services.loader };
}

/** Every model on disk or in the registry, one entry per version; `readyOnly` keeps the servable ones. */
export function repositoryIndex(services: HttpServices, readyOnly: boolean): RepositoryIndexEntry[] {
  const { repository } = control(services);
  const onDisk = new Map(repository.list().map((model) => [model.name, model.versions]));
  const names = [...new Set([...onDisk.keys(), ...services.catalog.models()])].sort();
  const entries: RepositoryIndexEntry[] = [];
  for (const name of names) {
    const views = services.catalog.versions(name);
    const loaded = new Set(views.map((view) => view.version));
    for (const view of views) {
      entries.push({ name, version: String(view.version), state: view.state, reason: view.reason ?? '' });
    }
    for (const version of onDisk.get(name) ?? []) {
      if (!loaded.has(version)) entries.push({ name, version: String(version), state: 'UNLOADED', reason: 'unloaded' });
    }
    if (views.length === 0 && (onDisk.get(name)?.length ?? 0) === 0) {
      entries.push({ name, state: 'UNLOADED', reason: 'no version folder with a model.onnx' });
    }
  }
  entries.sort((a, b) => (a.name === b.name ? Number(a.version ?? 0) - Number(b.version ?? 0) : a.name < b.name ? -1 : 1));
  if (!readyOnly) return entries;
  return entries.filter((entry) => entry.state === 'READY');
}

/** (Re)loads every version folder of the model; resolves when all serve, else fails naming each reason. */
export async function loadModel(services: HttpServices, name: string): Promise<void> {
  const { repository, loader } = control(services);
  const versions = repository.list().find((model) => model.name === name)?.versions ?? [];
  if (versions.length === 0) {
    throw new SwitchyardError('MODEL_NOT_FOUND', `no model named '${name}' with a version folder holding a model.onnx in the repository`);
  }
  const results = await Promise.allSettled(versions.map((version) => loader.load(name, version, repository.modelPath(name, version))));
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected' ? [`version ${versions[index]}: ${(result.reason as Error)?.message ?? String(result.reason)}`] : [],
  );
  if (failures.length > 0) {
    throw new SwitchyardError('MODEL_LOAD_FAILED', `failed to load '${name}': ${failures.join('; ')}`, { details: { failures } });
  }
}

/** Unloads every version the registry holds; in-flight requests finish first. */
export async function unloadModel(services: HttpServices, name: string): Promise<void> {
  const { repository, loader } = control(services);
  const versions = loader.knownVersions(name);
  if (versions.length === 0 && !repository.list().some((model) => model.name === name)) {
    throw new SwitchyardError('MODEL_NOT_FOUND', `no model named '${name}' in the repository`);
  }
  await Promise.all(versions.map((version) => loader.unload(name, version)));
}
