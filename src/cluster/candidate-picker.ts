/**
 * Which place serves one request for a resolved (model, version): this process when it has the
 * version READY, or one of the live nodes and healthy backends that have it, minus what health
 * tracking excludes. The pick is power of two random choices on load: two candidates at random,
 * the less loaded one wins. Cheap (no scan of every candidate's state) and, unlike least-loaded,
 * it does not herd every front onto the one target that looked idle a moment ago.
 *
 * Load is outstanding work as this process sees it: its own attempts in flight to the target plus
 * what the target last reported (heartbeats; 0 for backends). This process is counted the same
 * way: its requests in flight locally plus what its batcher has queued. A weighted target's score
 * is (load + 1) / weight, so weights also split an idle set.
 */
import type { BackendTargets, ClusterMembers, UpstreamHealth, UpstreamTarget } from './cluster-types.js';

export interface Candidate {
  /** The node id (this process's own for the local candidate) or the backend target's id. */
  readonly id: string;
  readonly kind: 'local' | 'node' | 'backend';
  /** Undefined for the local candidate. */
  readonly target: UpstreamTarget | undefined;
}

export interface CandidateSet {
  /** What may be sent to now (local first when present). */
  readonly usable: readonly Candidate[];
  /** Remote targets health tracking left out, and why. */
  readonly excluded: ReadonlyArray<{ readonly id: string; readonly reason: 'ejected' | 'circuit-open' }>;
  /** Remote targets that have the version before health tracking was asked. */
  readonly remoteCount: number;
  /**
   * A usable target whose half-open breaker handed this request its probe: the request goes
   * there (first()), else the probe would be lost until its lease ends and the breaker would
   * stay half-open, refusing everyone else, that long.
   */
  readonly probe?: Candidate | undefined;
}

export interface CandidatePickerOptions {
  /** This process's node id (the local candidate's id). */
  readonly localId: string;
  /** True when this process has the version READY. */
  readonly localReady: (model: string, version: number) => boolean;
  /** This process's outstanding work for the version: in flight here plus queued. */
  readonly localLoad: (model: string, version: number) => number;
  /** This process's attempts in flight to a remote target. */
  readonly remoteInFlight: (targetId: string) => number;
  readonly members?: ClusterMembers | undefined;
  readonly backends?: BackendTargets | undefined;
  readonly health?: UpstreamHealth | undefined;
  /** A number in [0, 1); default Math.random (tests inject their own). */
  readonly random?: () => number;
}

export class CandidatePicker {
  readonly #options: CandidatePickerOptions;
  readonly #random: () => number;

  constructor(options: CandidatePickerOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** True when another place than this process may serve a version (some member or backend is configured). */
  get distributed(): boolean {
    return this.#options.members !== undefined || this.#options.backends !== undefined;
  }

  /**
   * The candidates of one request. Asks health tracking once (a half-open breaker hands out its
   * one probe through it), so call it once per request, start with first() and pick retries
   * from the same set.
   */
  candidates(model: string, version: number): CandidateSet {
    const { members, backends, health, localReady, localId } = this.#options;
    const targets = [...(members?.targetsFor(model, version) ?? []), ...(backends?.targetsFor(model, version) ?? [])].filter(
      (target) => target.id !== localId,
    );
    const local: Candidate[] = localReady(model, version) ? [{ id: localId, kind: 'local', target: undefined }] : [];
    if (targets.length === 0) return { usable: local, excluded: [], remoteCount: 0 };
    const selected = health?.select(targets.map((target) => target.id));
    const usableIds = selected ? new Set(selected.usable) : undefined;
    const remote = targets
      .filter((target) => usableIds === undefined || usableIds.has(target.id))
      .map((target): Candidate => ({ id: target.id, kind: target.kind, target }));
    const set = { usable: [...local, ...remote], excluded: selected?.excluded ?? [], remoteCount: targets.length };
    const probe = selected?.probe === undefined ? undefined : remote.find((candidate) => candidate.id === selected.probe);
    return probe ? { ...set, probe } : set;
  }

  /** The first attempt's candidate: the probed target when the set carries a probe, else the pick on load. */
  first(model: string, version: number, set: CandidateSet): Candidate | undefined {
    return set.probe ?? this.pick(model, version, set.usable);
  }

  /** Power of two random choices among `candidates` (minus `exclude`); undefined when none is left. */
  pick(model: string, version: number, candidates: readonly Candidate[], exclude?: ReadonlySet<string>): Candidate | undefined {
    const pool = exclude && exclude.size > 0 ? candidates.filter((candidate) => !exclude.has(candidate.id)) : candidates;
    if (pool.length <= 1) return pool[0];
    const first = Math.floor(this.#random() * pool.length);
    // The second is another one: a draw among the rest, shifted past the first.
    let second = Math.floor(this.#random() * (pool.length - 1));
    if (second >= first) second += 1;
    const a = pool[first]!;
    const b = pool[second]!;
    const scoreA = this.score(model, version, a);
    const scoreB = this.score(model, version, b);
    if (scoreA !== scoreB) return scoreA < scoreB ? a : b;
    return a; // a tie: the first draw, itself random
  }

  /** (outstanding work + 1) / weight: lower is better. */
  score(model: string, version: number, candidate: Candidate): number {
    if (candidate.kind === 'local') return this.#options.localLoad(model, version) + 1;
    const target = candidate.target!;
    const load = this.#options.remoteInFlight(target.id) + Math.max(0, target.reportedLoad);
    return (load + 1) / (target.weight > 0 ? target.weight : 1);
  }
}
