/**
 * Authentication of every route, data-driven: the routes come from the app itself (Hono's route
 * list), each must have a row saying which credential guards it, and every route is called with
 * every credential case over real HTTP. A new route without a row fails here, and so does a row
 * whose route is gone. The outcomes are the README's (Authentication): an inference or job route
 * needs an API key (401 with a Bearer challenge otherwise; the admin token does not open it), a
 * management route the admin token (401 otherwise; an API key does not open it, in either
 * header), and without ADMIN_TOKEN management is off (404) whatever is sent.
 */
import { inspectRoutes } from 'hono/dev';
import { describe, expect, it } from 'vitest';
import { isV2Path } from '../../src/http/v2-error-response.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

type Guard = 'open' | 'api-key' | 'admin';

/** Every route of the API and what guards it. */
const ROUTES: Record<string, Guard> = {
  'GET /healthz': 'open',
  'GET /readyz': 'open',
  'GET /metrics': 'open',
  'GET /v2': 'open',
  'GET /v2/health/live': 'open',
  'GET /v2/health/ready': 'open',
  // The status page's static files: no data (every read the page makes goes through its own row).
  'GET /': 'open',
  'GET /status/status-page.js': 'open',
  'GET /status/status-page.css': 'open',
  'POST /models/:name/predict': 'api-key',
  'POST /models/:name/:version/predict': 'api-key',
  'GET /models': 'api-key',
  'GET /models/:name': 'api-key',
  'GET /cluster': 'api-key',
  'POST /jobs': 'api-key',
  'GET /jobs': 'api-key',
  'GET /jobs/:id': 'api-key',
  'DELETE /jobs/:id': 'api-key',
  'GET /v2/models/stats': 'api-key',
  'GET /v2/models/:name': 'api-key',
  'GET /v2/models/:name/versions/:version': 'api-key',
  'GET /v2/models/:name/ready': 'api-key',
  'GET /v2/models/:name/versions/:version/ready': 'api-key',
  'POST /v2/models/:name/infer': 'api-key',
  'POST /v2/models/:name/versions/:version/infer': 'api-key',
  'GET /v2/models/:name/stats': 'api-key',
  'GET /v2/models/:name/versions/:version/stats': 'api-key',
  'POST /v2/repository/index': 'admin',
  'POST /v2/repository/models/:name/load': 'admin',
  'POST /v2/repository/models/:name/unload': 'admin',
  'GET /admin/routes': 'admin',
  'GET /admin/routes/:model': 'admin',
  'PUT /admin/routes/:model': 'admin',
  'DELETE /admin/routes/:model': 'admin',
  'DELETE /admin/routes/:model/:alias': 'admin',
  'GET /admin/models': 'admin',
  'GET /admin/rollouts': 'admin',
  'GET /admin/rollouts/:model': 'admin',
  'POST /admin/rollouts': 'admin',
  'POST /admin/rollouts/:model/abort': 'admin',
  'DELETE /admin/rollouts/:model': 'admin',
  'POST /admin/models/:model/load': 'admin',
  'POST /admin/models/:model/unload': 'admin',
};

const API_KEY = 'matrix-api-key';
const ADMIN_TOKEN = 'matrix-admin-token';

/** What a client sends. */
const CREDENTIALS: Record<string, Record<string, string>> = {
  none: {},
  wrong: { authorization: 'Bearer not-a-credential' },
  'wrong x-api-key': { 'x-api-key': 'not-a-credential' },
  'api key (bearer)': { authorization: `Bearer ${API_KEY}` },
  'api key (x-api-key)': { 'x-api-key': API_KEY },
  'admin token': { authorization: `Bearer ${ADMIN_TOKEN}` },
};

/** How an answer looks from the point of view of authentication. */
type Outcome = 'passed' | 'unauthorized' | 'disabled' | `unexpected ${number}: ${string}`;

function expectedWithBoth(guard: Guard, credential: string): Outcome {
  if (guard === 'open') return 'passed';
  if (guard === 'api-key') return credential.startsWith('api key') ? 'passed' : 'unauthorized';
  return credential === 'admin token' ? 'passed' : 'unauthorized';
}

function expectedWithNeither(guard: Guard): Outcome {
  return guard === 'admin' ? 'disabled' : 'passed';
}

/** Existing nowhere, so that a request that passes authentication changes nothing. */
const PARAMS: Record<string, string> = { name: 'no-such-model', model: 'no-such-model', version: '1', alias: 'canary', id: 'no-such-job' };

async function outcome(g: TestGateway, method: string, pattern: string, headers: Record<string, string>): Promise<Outcome> {
  const path = pattern.replace(/:([a-z]+)/g, (_, name: string) => PARAMS[name] ?? `unknown-param-${name}`);
  const response = await g.raw(method, path, method === 'GET' || method === 'DELETE' ? undefined : '{}', {
    ...headers,
    ...(method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
  });
  const text = response.body.toString('utf8');
  const body = (() => {
    try {
      return JSON.parse(text) as { error?: unknown };
    } catch {
      return undefined;
    }
  })();
  // Native errors carry a code; V2 ones only a message (the protocol's shape).
  const error = body?.error;
  const code = isV2Path(path) ? undefined : (error as { code?: string } | undefined)?.code;
  const message = typeof error === 'string' ? error : (error as { message?: string } | undefined)?.message;
  const challenged = String(response.headers['www-authenticate'] ?? '').startsWith('Bearer');
  if (response.status === 401 && challenged && (isV2Path(path) ? typeof error === 'string' : code === 'UNAUTHORIZED')) return 'unauthorized';
  if (response.status === 404 && message?.includes('management endpoints are disabled; set ADMIN_TOKEN') && (isV2Path(path) || code === 'NOT_FOUND')) {
    return 'disabled';
  }
  if (response.status !== 401 && response.status !== 403 && !challenged && !message?.includes('ADMIN_TOKEN')) return 'passed';
  return `unexpected ${response.status}: ${text.slice(0, 120)}`;
}

/** Every route of the app as `METHOD path` (middleware left out). */
function appRoutes(g: TestGateway): string[] {
  const routes = inspectRoutes(g.gateway.http).filter((route) => !route.isMiddleware);
  return [...new Set(routes.map((route) => `${route.method} ${route.path}`))].sort();
}

async function matrix(g: TestGateway, expected: (guard: Guard, credential: string) => Outcome) {
  const want: Record<string, Outcome> = {};
  const got: Record<string, Outcome> = {};
  for (const [route, guard] of Object.entries(ROUTES)) {
    const [method = '', pattern = ''] = route.split(' ');
    for (const [credential, headers] of Object.entries(CREDENTIALS)) {
      const key = `${route} [${credential}]`;
      want[key] = expected(guard, credential);
      got[key] = await outcome(g, method, pattern, headers);
    }
  }
  return { want, got };
}

describe('authentication of every route', () => {
  it('has a row for every route of the app, and no row without a route', async () => {
    const g = await startTestGateway({ env: { API_KEYS: API_KEY, ADMIN_TOKEN } });
    expect(appRoutes(g)).toEqual(Object.keys(ROUTES).sort());
  });

  it('with API_KEYS and ADMIN_TOKEN: each route opens to its own credential only', async () => {
    const g = await startTestGateway({ env: { API_KEYS: API_KEY, ADMIN_TOKEN } });
    const { want, got } = await matrix(g, expectedWithBoth);
    expect(got).toEqual(want);
  });

  it('with neither: inference and jobs are open, management is off (404) whatever is sent', async () => {
    const g = await startTestGateway({});
    const { want, got } = await matrix(g, (guard) => expectedWithNeither(guard));
    expect(got).toEqual(want);
  });
});
