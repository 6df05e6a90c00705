/**
 * Request ids: `x-request-id` taken from the client when it is sane, else generated, kept on the
 * context for log lines and returned on the response. The predict routes put it in their plain
 * response headers themselves (the fast path); other answers get it added here.
 */
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';

declare module 'hono' {
  interface ContextVariableMap {
    requestId: string;
  }
}

const SANE_ID = /^[\w.:@=+/-]{1,128}$/;

export function requestIdOf(c: Context): string {
  return c.get('requestId');
}

export function requestId(): MiddlewareHandler {
  return async function requestIdMiddleware(c, next) {
    const given = c.req.header('x-request-id');
    const id = given !== undefined && SANE_ID.test(given) ? given : randomUUID();
    c.set('requestId', id);
    await next();
    // The hot routes set it in their own headers object; touching c.res.headers would rebuild it.
    if (!c.get('requestIdSent')) c.res.headers.set('x-request-id', id);
  };
}

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by routes that already put x-request-id in their response headers. */
    requestIdSent: boolean;
  }
}
