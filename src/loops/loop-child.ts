/**
 * The loop side of HTTP_LOOPS > 1: a gateway process forked by loop-primary.ts tells the primary
 * when it listens and follows its shutdown commands. Outside a cluster worker these do nothing.
 */
import cluster from 'node:cluster';
import type { SwitchyardOptions } from '../app.js';
import { createLogger } from '../logger.js';
import { isLoopCommand, LOOP_INDEX_ENV, type LoopListening } from './loop-messages.js';
import { repositoryAcrossLoops } from './loop-repository.js';
import { countersAcrossLoops } from './loop-stats.js';

/** This process's loop index, or undefined when it is not one of several loops. */
export function loopIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(process.env[LOOP_INDEX_ENV]);
  return Number.isInteger(index) ? index : undefined;
}

export function announceListening(port: number): void {
  if (cluster.isWorker && process.connected) process.send?.({ switchyardLoop: 'listening', port } satisfies LoopListening);
}

/** Calls `shutdown` (as for SIGTERM) or `abort` (as for a second signal) when the primary asks. */
export function followPrimary(handlers: { shutdown(): void; abort(): void }): void {
  if (!cluster.isWorker) return;
  process.on('message', (message: unknown) => {
    if (!isLoopCommand(message)) return;
    if (message.switchyardLoop === 'shutdown') handlers.shutdown();
    else handlers.abort();
  });
}

/** How loop `loop` builds its gateway: its index in every log line, repository operations and per-version counters across loops, the heartbeat from loop 0 only. */
export function loopGatewayOptions(loop: number, logLevel: string): SwitchyardOptions {
  return {
    logger: createLogger(logLevel).child({ loop }),
    // One server is one node (one URL): the first loop writes its heartbeat, with every loop's counts.
    publishHeartbeat: loop === 0,
    repositoryLoader: repositoryAcrossLoops,
    httpScheduler: (scheduler, registry) =>
      countersAcrossLoops(scheduler, () => registry.models().flatMap((model) => registry.knownVersions(model).map((version) => [model, version] as const))),
  };
}
