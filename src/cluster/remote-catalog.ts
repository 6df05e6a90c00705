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

/** A signature is read again at most this often on mismatches. */
const MIN_REFRESH_MS = 1_000;

export class RemoteCatalog {
  readonly #options: RemoteCatalogOptions;
  /** Promises, so concurrent first requests share one metadata read; `at` is when it was asked. */
  readonly #signatures: LRUCache<string, { readonly read: Promise<ModelSignature>; readonly at: number }>;

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
    if (cached) return cached.read;
    const targets = this.targetsFor(model, version);
    if (targets.length === 0) return undefined;
    const entry = { read: this.#read(targets, model, version), at: performance.now() };
    this.#signatures.set(key, entry);
    // A failed read is not kept: the next request tries again.
    entry.read.catch(() => {
      if (this.#signatures.get(key) === entry) this.#signatures.delete(key);
    });
    return entry.read;
  }

  /**
   * Drops a cached signature (the inputs did not match it: the version may have been reloaded with
   * another shape), unless it was read less than MIN_REFRESH_MS ago: a client that keeps sending
   * bad input must not turn each request into a metadata read. True when it was dropped.
   */
  invalidate(model: string, version: number): boolean {
    const key = `${model}\u0000${version}`;
    const cached = this.#signatures.get(key);
    if (!cached || performance.now() - cached.at < MIN_REFRESH_MS) return false;
    this.#signatures.delete(key);
    return true;
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
