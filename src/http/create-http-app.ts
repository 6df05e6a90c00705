/**
 * The Hono application: middleware in request-path order, then each protocol's routes, with one
 * error mapping for all of them (in the Open Inference Protocol's shape on /v2 paths).
 */
import { Hono, type Context } from 'hono';
import { SwitchyardError } from '../errors.js';
import { errorResponse } from './error-response.js';
import { healthRoutes } from './health-routes.js';
import { requestId } from './request-id.js';
import type { HttpServices } from './http-services.js';
import { nativeRoutes } from './native-routes.js';
import { isV2Path, v2ErrorResponse } from './v2-error-response.js';
import { v2Routes } from './v2-routes.js';

export function createHttpApp(services: HttpServices): Hono {
  const app = new Hono();
  const respondWithError = (c: Context, error: unknown): Response =>
    (isV2Path(c.req.path) ? v2ErrorResponse : errorResponse)(c, error, services.logger);
  app.use(requestId());
  app.use(services.gate.middleware());
  // Bodies are read (and their size limited) by request-body.ts, straight from Node's stream.
  app.route('/', healthRoutes(services));
  app.route('/', nativeRoutes(services));
  app.route('/', v2Routes(services));
  app.notFound((c) => respondWithError(c, new SwitchyardError('NOT_FOUND', `no endpoint ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => respondWithError(c, error));
  return app;
}
