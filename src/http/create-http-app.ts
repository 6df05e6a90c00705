/**
 * The Hono application: middleware in request-path order, then each protocol's routes, with one
 * error mapping for all of them (in the Open Inference Protocol's shape on /v2 paths).
 */
import { Hono, type Context } from 'hono';
import { SwitchyardError } from '../errors.js';
import { adminRoutes } from './routes/admin-routes.js';
import { apiKeyAuth } from './middleware/api-key-auth.js';
import { ClientAddressResolver } from './client-address.js';
import { clusterRoutes } from './routes/cluster-routes.js';
import { errorResponse } from './error-response.js';
import { healthRoutes } from './routes/health-routes.js';
import { jobRoutes } from './routes/job-routes.js';
import { metricsMiddleware } from './middleware/metrics-middleware.js';
import { metricsRoutes } from './routes/metrics-routes.js';
import { requestId } from './middleware/request-id.js';
import { statusPageRoutes } from './routes/status-page-routes.js';
import type { HttpServices } from './http-services.js';
import { nativeRoutes } from './routes/native-routes.js';
import { INFERENCE_PATHS, rateLimitMiddleware } from './middleware/rate-limit-middleware.js';
import { isV2Path, v2ErrorResponse } from './v2-error-response.js';
import { v2Routes } from './routes/v2-routes.js';

export function createHttpApp(services: HttpServices): Hono {
  const app = new Hono();
  const respondWithError = (c: Context, error: unknown): Response =>
    (isV2Path(c.req.path) ? v2ErrorResponse : errorResponse)(c, error, services.logger);
  if (services.metrics) {
    // First, so the recorded time covers every other middleware and their refusals are counted.
    const native = metricsMiddleware(services.metrics.requestRecorder('native'));
    const v2 = metricsMiddleware(services.metrics.requestRecorder('v2'));
    app.use('/models/:name/predict', native);
    app.use('/models/:name/:version/predict', native);
    app.use('/v2/models/:name/infer', v2);
    app.use('/v2/models/:name/versions/:version/infer', v2);
  }
  app.use(requestId());
  app.use(services.gate.middleware());
  // A worker-only replica serves probes and metrics; its work comes from the job queue.
  if (services.serveApi === false) {
    app.route('/', healthRoutes(services));
    if (services.metrics) app.route('/', metricsRoutes(services.metrics));
    app.notFound((c) => respondWithError(c, new SwitchyardError('NOT_FOUND', `no endpoint ${c.req.method} ${c.req.path}: this replica only works async jobs`)));
    app.onError((error, c) => respondWithError(c, error));
    return app;
  }
  // API keys, then rate limits (a refused key costs no tokens); each installed only when configured.
  if (services.apiKeys !== undefined && services.apiKeys.length > 0) {
    const auth = apiKeyAuth({ keys: services.apiKeys, respond: respondWithError });
    app.use('/models/*', auth);
    app.use('/v2/models/*', auth);
    app.use('/jobs', auth);
    app.use('/jobs/*', auth);
    app.use('/cluster', auth);
  }
  if (services.rateLimits) {
    const metrics = services.metrics;
    app.on(
      'POST',
      [...INFERENCE_PATHS, '/jobs'],
      rateLimitMiddleware({
        limits: services.rateLimits,
        knownModel: (model) => services.catalog.has(model) || services.remote?.has(model) === true,
        respond: respondWithError,
        onRejected: metrics && ((model, scope) => metrics.rateLimited(model, scope)),
        addresses: new ClientAddressResolver(services.trustedProxies),
      }),
    );
  }
  // Bodies are read (and their size limited) by request-body.ts, straight from Node's stream.
  app.route('/', healthRoutes(services));
  if (services.metrics) app.route('/', metricsRoutes(services.metrics));
  app.route('/', nativeRoutes(services));
  app.route('/', jobRoutes(services));
  app.route('/', v2Routes(services));
  app.route('/', adminRoutes(services));
  if (services.cluster) app.route('/', clusterRoutes(services.cluster));
  app.route('/', statusPageRoutes());
  app.notFound((c) => respondWithError(c, new SwitchyardError('NOT_FOUND', `no endpoint ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => respondWithError(c, error));
  return app;
}
