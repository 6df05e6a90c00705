/**
 * Errors on Open Inference Protocol paths: the protocol's `{"error": "<message>"}` body with the
 * catalog's status (400 bad request, 404 unknown model or version, 413, 503 unavailable with
 * Retry-After, 504 deadline), which is Triton's mapping. Everything else about errors (which are
 * known, what is logged) is the native mapping's, in error-response.ts.
 */
import type { Context } from 'hono';
import type { Logger } from 'pino';
import { logErrorAnswer, toSwitchyardError } from './error-response.js';

/** Paths answered in the protocol's error shape. */
export function isV2Path(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

export function v2ErrorResponse(c: Context, error: unknown, logger: Logger): Response {
  const known = toSwitchyardError(error);
  logErrorAnswer(c, known, error, logger);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (known.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(known.retryAfterSeconds)));
  return new Response(JSON.stringify({ error: known.message }), { status: known.status, headers });
}
