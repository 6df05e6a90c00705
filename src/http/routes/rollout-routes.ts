/**
 * `/admin/rollouts`: start, list, read and abort rollouts (src/rollouts/). Thin: the body goes to
 * the rollout service as it came, which checks it and answers in the error catalog's words. Mounted
 * by the admin routes, behind their ADMIN_TOKEN check.
 */
import { Hono } from 'hono';
import { SwitchyardError } from '../../errors.js';
import type { RolloutApi } from '../../rollouts/rollouts.js';
import type { HttpServices } from '../http-services.js';
import { readJsonBody } from '../request-body.js';
import { assertModelName } from '../request-params.js';

function rollouts(services: HttpServices): RolloutApi {
  if (!services.rollouts) throw new SwitchyardError('ROLLOUTS_UNAVAILABLE', 'rollouts keep their state in Redis: set REDIS_URL to use them');
  return services.rollouts;
}

export function rolloutRoutes(services: HttpServices): Hono {
  const app = new Hono();
  app.post('/admin/rollouts', async (c) => {
    const api = rollouts(services);
    return c.json(await api.start(await readJsonBody(c, services.bodyLimitBytes)), 201);
  });
  app.get('/admin/rollouts', async (c) => c.json({ rollouts: await rollouts(services).list() }));
  app.get('/admin/rollouts/:model', async (c) => c.json(await rollouts(services).get(assertModelName(c.req.param('model')))));
  app.post('/admin/rollouts/:model/abort', async (c) => c.json(await rollouts(services).abort(assertModelName(c.req.param('model')))));
  app.delete('/admin/rollouts/:model', async (c) => c.json(await rollouts(services).abort(assertModelName(c.req.param('model')))));
  return app;
}
