/**
 * Optional API keys for the inference API (API_KEYS). A client sends `Authorization: Bearer
 * <key>` or `x-api-key: <key>`; a missing or unknown key is a 401 with `WWW-Authenticate: Bearer`.
 * The presented key is hashed once (sha256) and compared with timingSafeEqual against every
 * configured key's digest, without stopping at a match, so neither a key's content, its length
 * nor its position in the list leaks by timing. The matched key's identity (a digest prefix, never
 * the key) is left on the context for the rate limiter.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { SwitchyardError } from '../../errors.js';
import { bearerToken, secretDigest } from './credentials.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** `key:<16 hex digits of sha256(key)>` once an API key was verified. */
    apiKeyId: string;
  }
}

export interface ApiKeyAuthOptions {
  /** The accepted keys. Required and non-empty (without keys the middleware is not installed). */
  readonly keys: readonly string[];
  /** Answers an error in the shape of the request's protocol (native or V2). */
  readonly respond: (c: Context, error: unknown) => Response;
}

/** The key a request presents: `x-api-key`, else a bearer token. */
export function presentedApiKey(c: Context): string | undefined {
  const header = c.req.header('x-api-key');
  if (header !== undefined && header.trim() !== '') return header.trim();
  return bearerToken(c.req.header('authorization'));
}

export function apiKeyAuth(options: ApiKeyAuthOptions): MiddlewareHandler {
  const digests = options.keys.map(secretDigest);
  const ids = digests.map((d) => `key:${d.toString('hex').slice(0, 16)}`);
  const refuse = (c: Context, message: string): Response => {
    const response = options.respond(c, new SwitchyardError('UNAUTHORIZED', message));
    response.headers.set('WWW-Authenticate', 'Bearer realm="switchyard"');
    return response;
  };
  return async function apiKeyAuthMiddleware(c, next) {
    const presented = presentedApiKey(c);
    if (presented === undefined) {
      return refuse(c, 'an API key is required: send "Authorization: Bearer <key>" or "x-api-key: <key>"');
    }
    const candidate = secretDigest(presented);
    let matched = -1;
    for (let i = 0; i < digests.length; i++) if (timingSafeEqual(digests[i]!, candidate)) matched = i;
    if (matched < 0) return refuse(c, 'the API key is not valid');
    c.set('apiKeyId', ids[matched]!);
    await next();
  };
}
