/**
 * The one place that turns errors into HTTP answers: catalog errors keep their status and code,
 * anything else is an INTERNAL 500 that is logged with its stack (and never shown to the client).
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { SwitchyardError, isSwitchyardError } from '../errors.js';

export function toSwitchyardError(error: unknown): SwitchyardError {
  if (isSwitchyardError(error)) return error;
  return new SwitchyardError('INTERNAL', 'internal error', { cause: error });
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(error: SwitchyardError): ErrorBody {
  return {
    error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) },
  };
}

export function errorResponse(c: Context, error: unknown, logger: Logger): Response {
  const known = toSwitchyardError(error);
  if (known.code === 'INTERNAL' || known.code === 'INFERENCE_FAILED') {
    logger.error({ err: error, path: c.req.path }, known.message);
  } else {
    logger.debug({ code: known.code, path: c.req.path }, known.message);
  }
  if (known.retryAfterSeconds !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(known.retryAfterSeconds))));
  return c.json(errorBody(known), known.status as ContentfulStatusCode);
}
