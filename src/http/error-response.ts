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

/** One log line per error answer, with the request id: faults at error (with the stack), the rest at info. */
export function logErrorAnswer(c: Context, known: SwitchyardError, error: unknown, logger: Logger): void {
  const line = { requestId: c.get('requestId'), code: known.code, status: known.status, method: c.req.method, path: c.req.path };
  if (known.code === 'INTERNAL' || known.code === 'INFERENCE_FAILED') logger.error({ ...line, err: error }, known.message);
  else logger.info(line, known.message);
}

export function errorResponse(c: Context, error: unknown, logger: Logger): Response {
  const known = toSwitchyardError(error);
  logErrorAnswer(c, known, error, logger);
  if (known.retryAfterSeconds !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(known.retryAfterSeconds))));
  return c.json(errorBody(known), known.status as ContentfulStatusCode);
}
