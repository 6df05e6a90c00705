/**
 * The batching policy of every model version, resolved once from its config.json and its
 * signature and kept until one of them changes: the batcher asks for it on every request and
 * every batch. It follows the config store's and the registry's events (structurally, as the
 * metrics do): a changed config drops the model's policies, a version that (re)loaded drops its
 * own (its signature may differ), and a version that was unloaded drops its own, so the cache
 * holds nothing for versions that are gone (nor is anything cached for a version it does not know).
 */
import type { ModelConfig } from '../repository/model-config.js';
import type { ModelSignature } from '../tensor.js';
import { resolveBatchingPolicy, type BatchingPolicy } from './batching-policy.js';

/** The live config.json of each model (ModelConfigStore). */
export interface ModelConfigSource {
  get(name: string): ModelConfig;
  on(event: 'changed', listener: (e: { name: string }) => void): unknown;
}

/** The signature of each version, and news of versions loading and going away (ModelRegistry). */
export interface VersionSignatureSource {
  status(name: string, version: number): { readonly signature?: ModelSignature | undefined } | undefined;
  on(event: 'loaded', listener: (e: { name: string; version: number }) => void): unknown;
  on(event: 'unloaded', listener: (e: { name: string; version: number }) => void): unknown;
}

export interface BatchingPolicyCacheOptions {
  readonly configs: ModelConfigSource;
  readonly versions: VersionSignatureSource;
}

export class BatchingPolicyCache {
  readonly #configs: ModelConfigSource;
  readonly #versions: VersionSignatureSource;
  /** model -> version -> policy. */
  readonly #policies = new Map<string, Map<number, BatchingPolicy>>();

  constructor(options: BatchingPolicyCacheOptions) {
    this.#configs = options.configs;
    this.#versions = options.versions;
    this.#configs.on('changed', ({ name }) => this.#policies.delete(name));
    this.#versions.on('loaded', ({ name, version }) => this.#forget(name, version));
    this.#versions.on('unloaded', ({ name, version }) => this.#forget(name, version));
  }

  /** The version's policy; a version without a signature yet (still loading) is not batched. */
  policyFor(model: string, version: number): BatchingPolicy {
    let versions = this.#policies.get(model);
    let policy = versions?.get(version);
    if (!policy) {
      const status = this.#versions.status(model, version);
      policy = resolveBatchingPolicy(this.#configs.get(model), status?.signature);
      // A version the registry does not know (a request that raced its unload) is not cached:
      // no 'unloaded' would ever come to drop it.
      if (!status) return policy;
      if (!versions) {
        versions = new Map();
        this.#policies.set(model, versions);
      }
      versions.set(version, policy);
    }
    return policy;
  }

  /** Versions with a cached policy (to see that pruning works). */
  get size(): number {
    let size = 0;
    for (const versions of this.#policies.values()) size += versions.size;
    return size;
  }

  #forget(model: string, version: number): void {
    const versions = this.#policies.get(model);
    if (!versions) return;
    versions.delete(version);
    if (versions.size === 0) this.#policies.delete(model);
  }
}
