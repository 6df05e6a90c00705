/**
 * The admin API: routing tables and model loading for operators, behind the ADMIN_TOKEN check.
 * Route edits go through the routing source's store methods, so they are validated (grammar,
 * loops, dangling aliases) and published exactly like the operator CLI's, and every replica
 * applies them within 100 ms. On top of that, a written target must name versions the gateway
 * knows (registry or disk) unless `?force=true`: a typo should not become a 404 in production.
 */
import { Hono, type Context } from 'hono';
import { SwitchyardError } from '../../errors.js';
import { parseRouteTarget, RouteTargetError } from '../../routing/route-target.js';
import { adminAuth } from '../middleware/admin-auth.js';
import type { AdminRouteStore, HttpServices } from '../http-services.js';
import { readJsonBody } from '../request-body.js';
import { assertModelName } from '../request-params.js';
import { loadModel, repositoryIndex, unloadModel } from './v2-repository-handlers.js';

function store(services: HttpServices): AdminRouteStore {
  if (!services.routeStore) throw new SwitchyardError('NOT_FOUND', 'this gateway has no writable routing source');
  return services.routeStore;
}

function isForced(c: Context): boolean {
  const force = c.req.query('force');
  return force === '' || force === 'true' || force === '1';
}

/** A PUT body: a JSON object of alias -> target strings. */
function routesFromBody(body: unknown): Record<string, string> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new SwitchyardError('INVALID_REQUEST', 'the body must be a JSON object mapping alias -> target, e.g. {"default": "stable", "stable": "2"}');
  }
  const routes: Record<string, string> = {};
  for (const [alias, target] of Object.entries(body)) {
    if (typeof target !== 'string') {
      throw new SwitchyardError('INVALID_REQUEST', `the target of alias "${alias}" must be a string such as "2" or "2:90,3:10"`, {
        details: { alias },
      });
    }
    routes[alias] = target;
  }
  return routes;
}

/** Versions the gateway knows for a model: every state in the registry, plus folders on disk. */
function knownVersions(services: HttpServices, model: string): Set<number> {
  const known = new Set(services.catalog.versions(model).map((view) => view.version));
  for (const entry of services.repository?.list() ?? []) if (entry.name === model) for (const v of entry.versions) known.add(v);
  return known;
}

/** Refuses targets naming versions the gateway does not know (unparsable ones are the store's to refuse). */
function checkVersionsExist(services: HttpServices, model: string, routes: Record<string, string>): void {
  if (Object.keys(routes).length === 0) return;
  const known = knownVersions(services, model);
  if (known.size === 0 && !services.catalog.has(model)) {
    throw new SwitchyardError('MODEL_NOT_FOUND', `no model named '${model}' is known to this gateway; add ?force=true to write its routes anyway`);
  }
  const unknown: Array<{ alias: string; version: number }> = [];
  for (const [alias, target] of Object.entries(routes)) {
    let parsed;
    try {
      parsed = parseRouteTarget(target);
    } catch (error) {
      if (error instanceof RouteTargetError) continue;
      throw error;
    }
    const versions = parsed.kind === 'version' ? [parsed.version] : parsed.kind === 'split' ? parsed.parts.map((p) => p.version) : [];
    for (const version of versions) if (!known.has(version)) unknown.push({ alias, version });
  }
  if (unknown.length > 0) {
    const first = unknown[0]!;
    throw new SwitchyardError(
      'INVALID_REQUEST',
      `Route "${first.alias}" of model "${model}" names version ${first.version}, which the gateway does not know ` +
        `(known: ${[...known].sort((a, b) => a - b).join(', ') || 'none'}); add ?force=true to write it anyway`,
      { details: { model, unknownVersions: unknown, knownVersions: [...known].sort((a, b) => a - b) } },
    );
  }
}

export function adminRoutes(services: HttpServices): Hono {
  const app = new Hono();
  app.use('/admin/*', adminAuth(services.adminToken));
  app.use('/admin', adminAuth(services.adminToken));

  app.get('/admin/routes', async (c) => {
    const source = store(services);
    if (!source.readAll) throw new SwitchyardError('NOT_FOUND', 'this routing source can not list every table');
    return c.json(await source.readAll());
  });

  app.get('/admin/routes/:model', async (c) => {
    const model = assertModelName(c.req.param('model'));
    return c.json((await store(services).read(model)) ?? {});
  });

  app.put('/admin/routes/:model', async (c) => {
    const model = assertModelName(c.req.param('model'));
    const routes = routesFromBody(await readJsonBody(c, services.bodyLimitBytes));
    if (!isForced(c)) checkVersionsExist(services, model, routes);
    const source = store(services);
    await source.setRoutes(model, routes);
    return c.json((await source.read(model)) ?? {});
  });

  app.delete('/admin/routes/:model', async (c) => {
    const model = assertModelName(c.req.param('model'));
    return c.json({ model, removed: await store(services).deleteRoute(model) });
  });

  app.delete('/admin/routes/:model/:alias', async (c) => {
    const model = assertModelName(c.req.param('model'));
    const alias = c.req.param('alias');
    return c.json({ model, alias, removed: await store(services).deleteRoute(model, alias) });
  });

  app.get('/admin/models', (c) => c.json({ models: repositoryIndex(services, false) }));

  app.post('/admin/models/:model/load', async (c) => {
    const model = assertModelName(c.req.param('model'));
    await loadModel(services, model);
    return c.json({ model, versions: repositoryIndex(services, false).filter((entry) => entry.name === model) });
  });

  app.post('/admin/models/:model/unload', async (c) => {
    const model = assertModelName(c.req.param('model'));
    await unloadModel(services, model);
    return c.json({ model, versions: repositoryIndex(services, false).filter((entry) => entry.name === model) });
  });

  return app;
}
