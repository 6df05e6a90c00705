/**
 * The loop side of HTTP_LOOPS > 1: a gateway process forked by loop-primary.ts tells the primary
 * when it listens and follows its shutdown commands. Outside a cluster worker these do nothing.
 */
import cluster from 'node:cluster';
import { isLoopCommand, LOOP_INDEX_ENV, type LoopListening } from './loop-messages.js';

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
