/**
 * The messages between the primary of several HTTP loops (loop-primary.ts) and each loop, a
 * gateway process of its own (loop-child.ts), over node:cluster's IPC channel.
 */

/** Loop -> primary: it listens (on the shared port). */
export interface LoopListening {
  readonly switchyardLoop: 'listening';
  readonly port: number;
}

/** Primary -> loop: drain and exit as on a first SIGTERM (`shutdown`), or stop at once as on a second (`abort`). */
export interface LoopCommand {
  readonly switchyardLoop: 'shutdown' | 'abort';
}

export function isLoopListening(message: unknown): message is LoopListening {
  return typeof message === 'object' && message !== null && (message as LoopListening).switchyardLoop === 'listening';
}

export function isLoopCommand(message: unknown): message is LoopCommand {
  const kind = typeof message === 'object' && message !== null ? (message as LoopCommand).switchyardLoop : undefined;
  return kind === 'shutdown' || kind === 'abort';
}

/** The environment variable that tells a forked loop its index (0-based); also in its log lines. */
export const LOOP_INDEX_ENV = 'SWITCHYARD_HTTP_LOOP';
