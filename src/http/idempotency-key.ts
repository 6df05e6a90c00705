/**
 * The Idempotency-Key request header (IETF httpapi draft): a printable token of at most 255
 * characters, checked once here for every endpoint that honours it.
 */
import type { Context } from 'hono';
import { SwitchyardError } from '../errors.js';

export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The request's Idempotency-Key; undefined when absent; 400 INVALID_REQUEST when malformed. */
export function idempotencyKeyOf(c: Context): string | undefined {
  const key = c.req.header('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new SwitchyardError('INVALID_REQUEST', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces');
  }
  return key;
}

/** Marks an answer that repeats an earlier request's outcome instead of acting again. */
export function markReplayed(c: Context, replayed: boolean): void {
  if (replayed) c.header('Idempotent-Replayed', 'true');
}
