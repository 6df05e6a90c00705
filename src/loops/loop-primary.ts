/**
 * HTTP_LOOPS > 1: this process serves nothing itself. It forks that many loops with node:cluster,
 * each today's whole gateway (src/main.ts) in a process of its own, all sharing the one listening
 * port (cluster hands each accepted connection to a loop, round-robin). It then:
 * - replaces a loop that exits while the server runs, and logs it (`loop-exited`, `loop-replaced`);
 *   a loop that exits before it ever listened (a taken port, a bad setting) ends the server, since
 *   its replacement would fail the same way (a replacement that never listened is retried every
 *   REPLACEMENT_RETRY_MS); a loop loads its models before it listens, so it takes no connection
 *   it could not answer;
 * - on SIGTERM/SIGINT asks every loop to drain (each runs its own ordered shutdown), waits for all
 *   of them and exits 0 when every loop did; a second signal makes each loop stop at once.
 * It also answers the loops' requests for the metrics of every loop (loop-metrics.ts) and holds
 * their rate limit counters (src/resilience/rate-limits.ts), so limits hold across the loops, and
 * relays the V2 repository load/unload of one loop to the others (loop-repository.ts) and the
 * loops' per-version counters (loop-stats.ts).
 * Unless RUNTIME_WORKERS is set, the cores are split: each loop gets CPU count / loops inference
 * threads (at least 1), so N loops do not start N x CPU threads; unless JOB_CONCURRENCY is set,
 * its default is split too (32 / loops per loop), so the server runs as many jobs as one process.
 * Unless NODE_ID is set, one is chosen here for every loop: the server is one node of the cluster.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { defaultNodeId, SETTING_DEFAULTS } from '../config.js';
import type { Logger } from 'pino';
import { RateLimiterClusterMaster } from 'rate-limiter-flexible';
import { serveLoopMetrics } from './loop-metrics.js';
import { relayRepositoryOperations } from './loop-repository.js';
import { relayLoopStats } from './loop-stats.js';
import { isLoopListening, LOOP_INDEX_ENV, type LoopCommand } from './loop-messages.js';

const REPLACEMENT_RETRY_MS = 1_000;

export interface LoopPrimaryOptions {
  readonly loops: number;
  readonly logger: Logger;
  /** Called once with the exit code when every loop has exited (default process.exit). */
  readonly exit?: (code: number) => void;
}

interface LoopState {
  readonly index: number;
  readonly worker: Worker;
  listened: boolean;
  /** True for a loop started in place of one that exited. */
  readonly replacement: boolean;
}

export function runLoopPrimary(options: LoopPrimaryOptions): void {
  const { loops, logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const running = new Map<number, LoopState>();
  const threadsPerLoop = {
    ...(process.env.RUNTIME_WORKERS ? {} : { RUNTIME_WORKERS: String(Math.max(1, Math.floor(availableParallelism() / loops))) }),
    // JOB_CONCURRENCY is what this server runs at once: unless set, split between the loops too.
    ...(process.env.JOB_CONCURRENCY ? {} : { JOB_CONCURRENCY: String(Math.max(1, Math.ceil(Number(SETTING_DEFAULTS.JOB_CONCURRENCY) / loops))) }),
    // Every loop is the same node (x-served-by, heartbeats): one id, drawn here when NODE_ID is unset.
    ...(process.env.NODE_ID ? {} : { NODE_ID: defaultNodeId() }),
  };
  let stopping: 'shutdown' | 'abort' | undefined;
  let exitCode = 0;
  let announced = false;

  const send = (state: LoopState, command: LoopCommand['switchyardLoop']) => {
    if (state.worker.isConnected()) state.worker.send({ switchyardLoop: command } satisfies LoopCommand);
    else state.worker.process.kill(command === 'abort' ? 'SIGKILL' : 'SIGTERM');
  };

  const stopAll = (command: 'shutdown' | 'abort') => {
    stopping = command;
    for (const state of running.values()) send(state, command);
    if (running.size === 0) exit(exitCode);
  };

  const fork = (index: number, replacement: boolean) => {
    const worker = cluster.fork({ [LOOP_INDEX_ENV]: String(index), ...threadsPerLoop });
    const state: LoopState = { index, worker, listened: false, replacement };
    running.set(index, state);
    worker.on('message', (message: unknown) => {
      if (!isLoopListening(message) || state.listened) return;
      state.listened = true;
      logger.info({ event: 'loop-listening', loop: index, pid: worker.process.pid, port: message.port }, 'HTTP loop listening');
      if (replacement) logger.info({ event: 'loop-replaced', loop: index, pid: worker.process.pid }, 'HTTP loop replaced');
      if (!announced && [...running.values()].every((s) => s.listened)) {
        announced = true;
        logger.info({ event: 'loops-listening', loops, port: message.port }, 'every HTTP loop listens');
      }
      // A loop that came up while the server was already stopping is stopped too.
      if (stopping) send(state, stopping);
    });
    worker.once('exit', (code, signal) => {
      if (running.get(index) === state) running.delete(index);
      if (stopping) {
        // The server's exit code says whether every loop drained; a loop replaced earlier does not count.
        if (code !== 0) exitCode = 1;
        logger.info({ event: 'loop-stopped', loop: index, pid: worker.process.pid, code, signal }, 'HTTP loop stopped');
        if (running.size === 0) exit(exitCode);
        return;
      }
      if (!state.listened && !replacement) {
        logger.fatal({ event: 'loop-failed', loop: index, pid: worker.process.pid, code, signal }, 'HTTP loop exited before it listened; stopping the server');
        exitCode = 1;
        stopAll('shutdown');
        return;
      }
      logger.error({ event: 'loop-exited', loop: index, pid: worker.process.pid, code, signal, listened: state.listened }, 'HTTP loop exited; starting a replacement');
      // A replacement that died before it listened is retried after a pause, not in a tight loop.
      if (state.listened) fork(index, true);
      else setTimeout(() => stopping === undefined && fork(index, true), REPLACEMENT_RETRY_MS);
    });
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping === undefined) {
      logger.info({ signal, loops: running.size }, 'signal received: draining every HTTP loop');
      stopAll('shutdown');
    } else {
      logger.warn({ signal }, 'second signal: stopping every HTTP loop without waiting');
      stopAll('abort');
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  serveLoopMetrics();
  relayRepositoryOperations();
  relayLoopStats();
  // The loops' rate limit counters (without Redis, and Redis's insurance) live here: one count for all loops.
  new RateLimiterClusterMaster();
  logger.info({ event: 'loops-starting', loops, pid: process.pid }, 'starting HTTP loops');
  for (let index = 0; index < loops; index += 1) fork(index, false);
}
