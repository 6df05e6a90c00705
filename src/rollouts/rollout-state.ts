/**
 * A rollout as stored in Redis: what it was asked (the spec), where it stands (status, weight,
 * failed checks), the `default` route it last wrote, and its history. Kept whole in one JSON
 * value so a restarted gateway or another replica continues exactly where the last driver was.
 */
import type { WindowFigures } from './rollout-judge.js';
import type { RolloutSpec } from './rollout-spec.js';

export type RolloutStatus = 'running' | 'promoted' | 'rolled_back' | 'aborted' | 'stopped';

/** What a history row records; `started`, `advanced`, `promoted`, `rolled_back`, `aborted`, `stopped` are steps. */
export type RolloutEvent = 'started' | 'advanced' | 'inconclusive' | 'failed' | 'promoted' | 'rolled_back' | 'aborted' | 'stopped';

export const ROLLOUT_EVENTS: readonly RolloutEvent[] = ['started', 'advanced', 'inconclusive', 'failed', 'promoted', 'rolled_back', 'aborted', 'stopped'];

export interface RolloutHistoryRow {
  /** Epoch ms. */
  readonly at: number;
  readonly event: RolloutEvent;
  /** Canary weight (percent) after the event. */
  readonly weight: number;
  readonly reason?: string;
  readonly canary?: WindowFigures;
  readonly primary?: WindowFigures;
  /** The node that drove it (NODE_ID). */
  readonly driver: string;
}

/** Rows kept per rollout; older ones are dropped (counted in `historyDropped`). */
export const MAX_HISTORY_ROWS = 200;

export interface RolloutState {
  readonly model: string;
  readonly primary: number;
  readonly target: number;
  readonly spec: RolloutSpec;
  readonly status: RolloutStatus;
  /** Canary weight, percent. */
  readonly weight: number;
  readonly failedChecks: number;
  /** The `default` target before the rollout (undefined: the table had none). */
  readonly originalDefault: string | undefined;
  /** The `default` target this rollout wants (written, or about to be). */
  readonly route: string;
  /** The `default` target before `route` was decided: seeing it means the write is still due, not an operator's edit. */
  readonly previousRoute: string | undefined;
  /** False between deciding `route` and having written it. */
  readonly applied: boolean;
  /** Why it ended (rolled back, aborted, stopped). */
  readonly reason?: string;
  readonly startedAt: number;
  readonly updatedAt: number;
  /** Bumped by every write; a write is refused unless it names the revision it read. */
  readonly revision: number;
  readonly history: readonly RolloutHistoryRow[];
  readonly historyDropped: number;
}

/** The split `primary:(100-w),target:w` (just the target at 100). */
export function splitRoute(primary: number, target: number, weight: number): string {
  return weight >= 100 ? String(target) : `${primary}:${100 - weight},${target}:${weight}`;
}

/** The state with one more history row (capped). */
export function withHistory(state: RolloutState, row: RolloutHistoryRow): Pick<RolloutState, 'history' | 'historyDropped'> {
  const history = [...state.history, row];
  const dropped = Math.max(0, history.length - MAX_HISTORY_ROWS);
  return { history: history.slice(dropped), historyDropped: state.historyDropped + dropped };
}
