/**
 * The ADMIN_TOKEN check in front of every management endpoint. Without a configured token the
 * endpoints are off (404, as if absent); otherwise the request needs `Authorization: Bearer
 * <token>` (401 with `WWW-Authenticate: Bearer` when missing or wrong). Tokens are compared as
 * sha256 digests with timingSafeEqual so neither their content nor their length leaks by timing.
 */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { SwitchyardError } from '../../errors.js';
import { bearerToken, secretDigest } from './credentials.js';

export const MANAGEMENT_DISABLED_MESSAGE = 'management endpoints are disabled; set ADMIN_TOKEN';

/** True when `presented` equals `expected`, in time independent of where they differ. */
function tokensMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(secretDigest(presented), secretDigest(expected));
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
