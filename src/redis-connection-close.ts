/**
 * Closing a Redis connection without waiting on Redis: QUIT is a command, and a hung Redis (a
 * stopped process, a dead network path) never answers it, which would hold shutdown forever.
 */
import type { Redis } from 'ioredis';
import { settlesWithin } from './settles-within.js';

/** How long QUIT may take before the connection is dropped instead. */
const QUIT_TIMEOUT_MS = 500;

/** QUIT when the connection is live and Redis answers in time; otherwise drop it (and stop reconnecting). */
export async function closeRedisConnection(connection: Redis, quitTimeoutMs = QUIT_TIMEOUT_MS): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  const quitting = connection.quit().catch(() => undefined);
  if (!(await settlesWithin(quitting, quitTimeoutMs))) connection.disconnect();
}
