/** Liveness and readiness: alive while the process answers; ready once scanned, routed and not closing. */
import { Hono } from 'hono';
import type { HttpServices } from '../http-services.js';

export function healthRoutes(services: HttpServices): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const { ready, reasons, warnings = [] } = services.readiness();
    return c.json({ ready, reasons, ...(warnings.length > 0 ? { warnings } : {}) }, ready ? 200 : 503);
  });
  return app;
}
