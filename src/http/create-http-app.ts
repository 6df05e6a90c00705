/**
 * The Hono application: middleware in request-path order, then each protocol's routes, with one
 * error mapping for all of them.
 */
import { Hono } from 'hono';
import { SwitchyardError } from '../errors.js';
import { errorResponse } from './error-response.js';
import { healthRoutes } from './health-routes.js';
import type { HttpServices } from './http-services.js';
import { nativeRoutes } from './native-routes.js';

export function createHttpApp(services: HttpServices): Hono {
  const app = new Hono();
  app.use(services.gate.middleware());
  // Bodies are read (and their size limited) by request-body.ts, straight from Node's stream.
  app.route('/', healthRoutes(services));
  app.route('/', nativeRoutes(services));
  app.notFound((c) => errorResponse(c, new SwitchyardError('NOT_FOUND', `no endpoint ${c.req.method} ${c.req.path}`), services.logger));
  app.onError((error, c) => errorResponse(c, error, services.logger));
  return app;
}
