/**
 * The ADMIN_TOKEN check in front of every management endpoint. Without a configured token the
 * endpoints are off (404, as if absent); otherwise the request needs `Authorization: Bearer
 * <token>` (401 with `WWW-Authenticate: Bearer` when missing or wrong). Tokens are compared as
 * sha256 digests with timingSafeEqual so neither their content nor their length leaks by timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { SwitchyardError } from '../errors.js';

export const MANAGEMENT_DISABLED_MESSAGE = 'management endpoints are disabled; set ADMIN_TOKEN';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** True when `presented` equals `expected`, in time independent of where they differ. */
export function tokensMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The bearer token of an Authorization header, or undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/**
 * Middleware refusing requests without the admin token. Errors are thrown so the app's one error
 * mapping answers them (in the V2 shape on /v2 paths).
 */
export function adminAuth(token: string | undefined): MiddlewareHandler {
  const expected = token === undefined || token === '' ? undefined : token;
  return async function adminAuthMiddleware(c, next) {
    if (expected === undefined) throw new SwitchyardError('NOT_FOUND', MANAGEMENT_DISABLED_MESSAGE);
    const presented = bearerToken(c.req.header('Authorization'));
    if (presented === undefined || !tokensMatch(presented, expected)) {
      c.header('WWW-Authenticate', 'Bearer realm="switchyard"');
      throw new SwitchyardError(
        'UNAUTHORIZED',
        presented === undefined ? 'missing bearer token (Authorization: Bearer <ADMIN_TOKEN>)' : 'wrong bearer token',
      );
    }
    await next();
  };
}
