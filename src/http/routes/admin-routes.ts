/**
 * The admin API: routing tables and model loading for operators, behind the ADMIN_TOKEN check.
 * Route edits go through the routing source's store methods, so they are validated (grammar,
 * loops, dangling aliases) and published exactly like the operator CLI's, and every replica
 * applies them within 100 ms. On top of that, a written target must name versions the gateway
 * knows (registry or disk) unless `?force=true`: a typo should not become a 404 in production.
 * Every edit honours an Idempotency-Key (a retry replays the first outcome, `Idempotent-Replayed`)
 * and answers from what it wrote, never from a read after it that could fail on its own.
 */
import { Hono, type Context } from 'hono';
import { SwitchyardError } from '../../errors.js';
import { routesFrom, type Routes } from '../../routing/route-table.js';
import { ALIAS_PATTERN, isValidAlias, parseRouteTarget, RouteTargetError } from '../../routing/route-target.js';
import { parseShadowTarget, SHADOW_FIELD } from '../../routing/shadow-target.js';
import { adminAuth } from '../middleware/admin-auth.js';
import type { AdminRouteStore, HttpServices } from '../http-services.js';
import { idempotencyKeyOf, markReplayed } from '../idempotency-key.js';
import { readJsonBody } from '../request-body.js';
import { assertModelName } from '../request-params.js';
import { loadModel, repositoryIndex, unloadModel } from './v2-repository-handlers.js';
import { rolloutRoutes } from './rollout-routes.js';

function store(services: HttpServices): AdminRouteStore {
  if (!services.routeStore) throw new SwitchyardError('NOT_FOUND', 'this gateway has no writable routing source');
  return services.routeStore;
}

function isForced(c: Context): boolean {
  const force = c.req.query('force');
  return force === '' || force === 'true' || force === '1';
}

/**
 * A PUT body: a JSON object of alias -> target strings. Every alias name is checked here, before
 * anything else: JSON.parse keeps `"__proto__"` as an ordinary key, and copied onto a plain object
 * it would vanish, turning the edit into "remove the table".
 */
function routesFromBody(body: unknown): Routes {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new SwitchyardError('INVALID_REQUEST', 'the body must be a JSON object mapping alias -> target, e.g. {"default": "stable", "stable": "2"}');
  }
  const entries = Object.entries(body);
  for (const [alias, target] of entries) {
    if (!isValidAlias(alias)) {
      throw new SwitchyardError('INVALID_REQUEST', `"${alias.slice(0, 80)}" is not a valid alias name (${ALIAS_PATTERN.source})`, {
        details: { alias: alias.slice(0, 80) },
      });
    }
    if (typeof target !== 'string') {
      throw new SwitchyardError('INVALID_REQUEST', `the target of alias "${alias}" must be a string such as "2" or "2:90,3:10"`, {
        details: { alias },
      });
    }
  }
  return routesFrom(entries as Array<[string, string]>);
}

/** Versions the gateway knows for a model: every state in the registry, plus folders on disk. */
function knownVersions(services: HttpServices, model: string): Set<number> {
  const known = new Set(services.catalog.versions(model).map((view) => view.version));
  for (const entry of services.repository?.list() ?? []) if (entry.name === model) for (const v of entry.versions) known.add(v);
  return known;
}

/** Refuses targets naming versions the gateway does not know (unparsable ones are the store's to refuse). */
function checkVersionsExist(services: HttpServices, model: string, routes: Routes): void {
  if (Object.keys(routes).length === 0) return;
  const known = knownVersions(services, model);
  if (known.size === 0 && !services.catalog.has(model)) {
    throw new SwitchyardError('MODEL_NOT_FOUND', `no model named '${model}' is known to this gateway; add ?force=true to write its routes anyway`);
  }
  const unknown: Array<{ alias: string; version: number }> = [];
  for (const [alias, target] of Object.entries(routes)) {
    let versions: number[];
    try {
      if (alias === SHADOW_FIELD) {
        versions = [parseShadowTarget(target).version];
      } else {
        const parsed = parseRouteTarget(target);
        versions = parsed.kind === 'version' ? [parsed.version] : parsed.kind === 'split' ? parsed.parts.map((p) => p.version) : [];
      }
    } catch (error) {
      if (error instanceof RouteTargetError) continue;
      throw error;
    }
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
    const idempotencyKey = idempotencyKeyOf(c);
    const routes = routesFromBody(await readJsonBody(c, services.bodyLimitBytes));
    if (!isForced(c)) checkVersionsExist(services, model, routes);
    const written = await store(services).setRoutes(model, routes, { idempotencyKey });
    markReplayed(c, written.replayed);
    return c.json(written.routes);
  });

  app.delete('/admin/routes/:model', async (c) => {
    const model = assertModelName(c.req.param('model'));
    const { removed, replayed } = await store(services).deleteRoute(model, undefined, { idempotencyKey: idempotencyKeyOf(c) });
    markReplayed(c, replayed);
    return c.json({ model, removed });
  });

  // Any alias may be removed, even one no request can name (written with a raw HSET): removing is
  // how such a typo is cleaned up.
  app.delete('/admin/routes/:model/:alias', async (c) => {
    const model = assertModelName(c.req.param('model'));
    const alias = c.req.param('alias');
    const { removed, replayed } = await store(services).deleteRoute(model, alias, { idempotencyKey: idempotencyKeyOf(c) });
    markReplayed(c, replayed);
    return c.json({ model, alias, removed });
  });

  app.route('/', rolloutRoutes(services));

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
