/**
 * Errors on Open Inference Protocol paths: the protocol's `{"error": "<message>"}` body with the
 * catalog's status (400 bad request, 404 unknown model or version, 413, 503 unavailable with
 * Retry-After, 504 deadline), which is Triton's mapping. Everything else about errors (which are
 * known, what is logged) is the native mapping's, in error-response.ts.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { logErrorAnswer, toSwitchyardError } from './error-response.js';

/** Paths answered in the protocol's error shape. */
export function isV2Path(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

export function v2ErrorResponse(c: Context, error: unknown, logger: Logger): Response {
  const known = toSwitchyardError(error);
  logErrorAnswer(c, known, error, logger);
  if (known.retryAfterSeconds !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(known.retryAfterSeconds))));
  // Through the context, so headers middleware set before failing (WWW-Authenticate) are kept.
  return c.body(JSON.stringify({ error: known.message }), known.status as ContentfulStatusCode, { 'content-type': 'application/json' });
}
