/**
 * What the other places (live nodes, healthy static backends) serve, as the HTTP layer and the
 * router need it: the versions of a model some of them have, and a version's signature, which
 * the native JSON decoder and the V2 decoder validate against. A front with an empty repository
 * has no signature of its own: it is read lazily from a candidate's V2 metadata endpoint and kept
 * in a bounded LRU per (model, version); a version that answers "wrong input" is read again.
 */
import { LRUCache } from 'lru-cache';
import type { ModelSignature } from '../tensor.js';
import type { BackendTargets, ClusterMembers, UpstreamTarget } from './cluster-types.js';
import type { UpstreamForwarder } from './upstream-forwarder.js';

export interface RemoteCatalogOptions {
  readonly members?: ClusterMembers | undefined;
  readonly backends?: BackendTargets | undefined;
  readonly forwarder: UpstreamForwarder;
  /** This process's node id (never asked for its own metadata). */
  readonly localId: string;
  /** Signatures kept at most. Default 1000. */
  readonly maxSignatures?: number;
  /** A signature is read again after this long. Default 60 s (a reload may change it). */
  readonly signatureTtlMs?: number;
}

export class RemoteCatalog {
  readonly #options: RemoteCatalogOptions;
  /** Promises, so concurrent first requests share one metadata read. */
  readonly #signatures: LRUCache<string, Promise<ModelSignature>>;

  constructor(options: RemoteCatalogOptions) {
    this.#options = options;
    this.#signatures = new LRUCache({ max: options.maxSignatures ?? 1000, ttl: options.signatureTtlMs ?? 60_000 });
  }

  /** Versions of a model some live node or healthy backend has, ascending. */
  versionsOf(model: string): number[] {
    const { members, backends } = this.#options;
    const versions = new Set([...(members?.versionsOf(model) ?? []), ...(backends?.versionsOf(model) ?? [])]);
    return [...versions].sort((a, b) => a - b);
  }

  /** True when some live node or healthy backend has the model. */
  has(model: string): boolean {
    return this.versionsOf(model).length > 0;
  }

  /** The places that serve a version, this process left out. */
  targetsFor(model: string, version: number): UpstreamTarget[] {
    const { members, backends, localId } = this.#options;
    return [...(members?.targetsFor(model, version) ?? []), ...(backends?.targetsFor(model, version) ?? [])].filter((target) => target.id !== localId);
  }

  /**
   * A version's signature from one of the places that serve it (tried in turn from a random one);
   * undefined when none does. Rejects with the last place's error when none could be read.
   */
  signature(model: string, version: number): Promise<ModelSignature> | undefined {
    const key = `${model}\u0000${version}`;
    const cached = this.#signatures.get(key);
    if (cached) return cached;
    const targets = this.targetsFor(model, version);
    if (targets.length === 0) return undefined;
    const read = this.#read(targets, model, version);
    this.#signatures.set(key, read);
    // A failed read is not kept: the next request tries again.
    read.catch(() => {
      if (this.#signatures.get(key) === read) this.#signatures.delete(key);
    });
    return read;
  }

  /** Drops a cached signature (an upstream said the inputs did not match it). */
  invalidate(model: string, version: number): void {
    this.#signatures.delete(`${model}\u0000${version}`);
  }

  async #read(targets: readonly UpstreamTarget[], model: string, version: number): Promise<ModelSignature> {
    const start = Math.floor(Math.random() * targets.length);
    let last: unknown;
    for (let i = 0; i < targets.length; i++) {
      try {
        return await this.#options.forwarder.metadata(targets[(start + i) % targets.length]!, model, version);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }
}
