/**
 * GET / (the status page) over real HTTP (issue 16 item 3): the page and its two assets, their
 * security headers (a CSP allowing only this origin, nosniff), that the page holds no data of its
 * own and references nothing outside this origin, and the API-key rules: with API_KEYS set the
 * static page loads, while every read it makes needs the key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { linearModel } from '../support/models.js';

const ASSETS = [
  ['/', 'text/html'],
  ['/status/status-page.js', 'text/javascript'],
  ['/status/status-page.css', 'text/css'],
] as const;

describe('without API keys', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ models: { 'secret-model-name': { 1: linearModel(1) } } });
  });
  afterAll(() => t.close());

  for (const [path, type] of ASSETS) {
    it(`GET ${path} answers ${type} with a self-only CSP and nosniff`, async () => {
      const response = await t.get(path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain(type);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-cache');
    });
  }

  it('the page has no data, no inline script or style, and nothing from another origin', async () => {
    const html = await (await t.get('/')).text();
    expect(html).not.toContain('secret-model-name');
    expect(html).toContain('<script src="/status/status-page.js" defer></script>');
    expect(html).not.toMatch(/<script>|<style|\sstyle="|\son[a-z]+="/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
    expect(html).not.toMatch(/<form/i);
    const script = await (await t.get('/status/status-page.js')).text();
    // Text only: the page never parses what the gateway says as markup.
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(script).not.toMatch(/https?:\/\//);
    // Read-only: every fetch is a GET (none names another method).
    expect(script).not.toMatch(/method:/);
  });

  it('POST / is not a route (the page changes nothing)', async () => {
    const response = await t.post('/', {});
    expect(response.status).toBe(404);
  });
});

describe('with API keys', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ env: { API_KEYS: 'page-key' } });
  });
  afterAll(() => t.close());

  it('the static page loads without a key, the reads it makes need one', async () => {
    expect((await t.get('/')).status).toBe(200);
    expect((await t.get('/status/status-page.js')).status).toBe(200);
    for (const path of ['/models', '/models/linear']) {
      const refused = await t.get(path);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('Bearer');
      expect((await t.get(path, { 'x-api-key': 'page-key' })).status).toBe(200);
      expect((await t.get(path, { 'x-api-key': 'not-the-key' })).status).toBe(401);
    }
  });
});
