/**
 * Rate limits in front of the inference endpoints. A client is its verified API key (when
 * API_KEYS is set), else its IP address (the socket's, or behind a trusted proxy the one
 * X-Forwarded-For names: client-address.ts); the model comes from the path. A refused request is a
 * 429 RATE_LIMITED with `Retry-After` and the IETF draft's separate fields (RateLimit-Limit,
 * RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy: draft-ietf-httpapi-ratelimit-headers
 * up to -06). Allowed answers carry no rate limit headers, so they keep the fast response path.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { SwitchyardError } from '../../errors.js';
import { ClientAddressResolver } from '../client-address.js';
import type { RateLimitRefusal, RateLimitScope } from '../../resilience/rate-limits.js';

/** The inference endpoints (native predict, V2 infer): the only ones rate limited. */
export const INFERENCE_PATHS = [
  '/models/:name/predict',
  '/models/:name/:version/predict',
  '/v2/models/:name/infer',
  '/v2/models/:name/versions/:version/infer',
] as const;

/** What the middleware needs of the limiter (RateLimits). */
export interface RateLimitChecker {
  check(client: string, model: string | undefined): Promise<RateLimitRefusal | undefined>;
}

export interface RateLimitMiddlewareOptions {
  readonly limits: RateLimitChecker;
  /** Only models the gateway knows count against model limits (an unknown name answers 404 anyway). */
  readonly knownModel: (model: string) => boolean;
  /** Answers an error in the shape of the request's protocol (native or V2). */
  readonly respond: (c: Context, error: unknown) => Response;
  /** Called for each refused request, e.g. to count it in metrics. Default none. */
  readonly onRejected?: ((model: string | undefined, scope: RateLimitScope) => void) | undefined;
  /** Where a client without an API key is (TRUSTED_PROXIES). Default: the socket's peer, X-Forwarded-For ignored. */
  readonly addresses?: ClientAddressResolver | undefined;
}

/** The client a request counts against: its verified API key, else its IP address. */
export function rateLimitClient(c: Context, addresses: ClientAddressResolver): string {
  const key = c.get('apiKeyId');
  if (key !== undefined) return key;
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return `ip:${addresses.resolve(incoming?.socket.remoteAddress, c.req.header('x-forwarded-for'))}`;
}

export function rateLimitMiddleware(options: RateLimitMiddlewareOptions): MiddlewareHandler {
  const { limits, knownModel, respond, onRejected } = options;
  const addresses = options.addresses ?? new ClientAddressResolver();
  return async function rateLimit(c, next) {
    const model = c.req.param('name');
    const known = model !== undefined && knownModel(model) ? model : undefined;
    const refusal = await limits.check(rateLimitClient(c, addresses), known);
    if (refusal === undefined) return next();
    const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
    onRejected?.(known, refusal.scope);
    const subject = refusal.scope === 'client' ? 'this client' : `model '${model}'`;
    const error = new SwitchyardError(
      'RATE_LIMITED',
      `rate limit of ${refusal.limit} requests per ${refusal.windowSeconds} s for ${subject} reached; retry in ${seconds} s`,
      { retryAfterSeconds: seconds, details: { scope: refusal.scope, limit: refusal.limit, window_seconds: refusal.windowSeconds } },
    );
    const response = respond(c, error);
    response.headers.set('RateLimit-Limit', String(refusal.limit));
    response.headers.set('RateLimit-Remaining', '0');
    response.headers.set('RateLimit-Reset', String(seconds));
    response.headers.set('RateLimit-Policy', `${refusal.limit};w=${refusal.windowSeconds}`);
    return response;
  };
}
