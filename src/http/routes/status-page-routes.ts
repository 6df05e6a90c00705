/**
 * `GET /`: the operators' status page, a static HTML file with one script and one style sheet
 * (static/status/), read once at start. The page holds no data: it polls the JSON API (GET
 * /models, GET /models/<name>, /metrics, and when present GET /cluster and GET /admin/rollouts)
 * with the visitor's API key, so the API's own key rules decide what it may read. Served with a
 * Content-Security-Policy that allows only this origin, so nothing is fetched from outside and
 * no injected markup could run a script.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';

export const STATUS_PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'status-page.js': 'text/javascript; charset=utf-8',
  'status-page.css': 'text/css; charset=utf-8',
} as const;

type AssetName = keyof typeof ASSETS;

/** static/status/ at the project root: three levels up from src/http/routes/ in development, four from dist/src/http/routes/. */
function assetDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(dir, 'static', 'status');
    try {
      readFileSync(join(candidate, 'index.html'));
      return candidate;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('static/status/index.html not found above ' + fileURLToPath(import.meta.url));
}

export function statusPageRoutes(): Hono {
  const dir = assetDir();
  const bodies = new Map<AssetName, string>(
    (Object.keys(ASSETS) as AssetName[]).map((name) => [name, readFileSync(join(dir, name), 'utf8')]),
  );
  const serve = (name: AssetName) => () =>
    new Response(bodies.get(name)!, {
      status: 200,
      headers: {
        'content-type': ASSETS[name],
        'content-security-policy': STATUS_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'cache-control': 'no-cache',
      },
    });
  const app = new Hono();
  app.get('/', serve('index.html'));
  app.get('/status/status-page.js', serve('status-page.js'));
  app.get('/status/status-page.css', serve('status-page.css'));
  return app;
}
