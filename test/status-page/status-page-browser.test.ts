/**
 * The status page in a real headless Chromium (issue 16 item 3): Debian's /usr/bin/chromium driven
 * by playwright-core (which never downloads a browser here). Models, versions and states show; a
 * new version, a hot swap of a file and a route edit appear without a reload; request rate and p99
 * appear under load; free text from files (a refused config.json quoted in its error) is shown as
 * text and cannot inject markup; sections for rollouts, shadow and nodes say "none" while those
 * endpoints answer 404 and show their rows once they answer (a small proxy adds them here); with
 * API_KEYS the page asks for a key and then reads with it. A screenshot is written to
 * test-artifacts/status-page.png. Skips, saying so, when /usr/bin/chromium is absent.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { linearAnswer, linearModel } from '../support/models.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARTIFACTS = resolve('test-artifacts');
const GARBAGE = new TextEncoder().encode('this is not an onnx model');
/** Markup in a file's content: Node's JSON error quotes it, and the page shows that error. */
const MARKUP = '<img src=x onerror="document.body.dataset.pwned=1"><b id=injected>bold</b>';

let browser: Browser;

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const outside: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(url)) outside.push(request.url());
  });
  cleanupAfter(async () => {
    expect(outside, 'the page fetched nothing from another origin').toEqual([]);
    await page.close();
  });
  await page.goto(url + '/');
  // A marker that a reload would lose (a string expression: the tests compile without the DOM's types).
  await page.evaluate('window.marker = 42');
  return page;
}

const cellOf = (page: Page, model: string, version: number, cell: string) =>
  page.locator(`tr[data-model="${model}"][data-version="${version}"] td.${cell}`);

async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).allTextContents()).join(' | ');
}

if (!HAVE_CHROMIUM) {
  describe('status page in Chromium', () => {
    it.skip(`skipped: ${CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it)`, () => {});
  });
} else {
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  describe('status page in Chromium', () => {
    let t: TestGateway;
    beforeAll(async () => {
      t = await startTestGateway({ models: { linear: { 1: linearModel(1) }, broken: { 1: GARBAGE } } });
      await t.writeModelConfig('broken', MARKUP);
      await eventually(async () => ((await (await t.get('/models/broken')).json()) as { config_error?: string }).config_error !== undefined, 20_000, 'the refused config.json');
    });

    it('shows models, versions, states and reasons; a new version, a hot swap and a route edit appear without a reload', async () => {
      const page = await openPage(t.url);
      await eventually(async () => (await cellOf(page, 'linear', 1, 'status').count()) === 1, 20_000, 'linear v1 on the page');
      expect(await page.locator('tr[data-model="linear"][data-version="1"]').getAttribute('data-state')).toBe('READY');
      expect(await page.locator('tr[data-model="broken"][data-version="1"]').getAttribute('data-state')).toBe('FAILED');
      expect(await cellOf(page, 'broken', 1, 'reason').textContent()).toContain('onnxruntime could not load');

      // Markup inside a file's content is shown as text, never parsed.
      await eventually(async () => (await textOf(page, '.config-error')).includes('<img'), 10_000, 'the config error on the page');
      expect(await page.locator('#injected').count()).toBe(0);
      expect(await page.locator('main img').count()).toBe(0);
      expect(await page.evaluate('document.body.dataset.pwned')).toBeUndefined();

      // Load: the rate and p99 columns fill in from the counters and the latency histogram.
      for (let i = 0; i < 40; i++) expect((await t.post('/models/linear/1/predict', LINEAR_INPUT)).status).toBe(200);
      await eventually(async () => Number(await cellOf(page, 'linear', 1, 'rate').textContent()) > 0, 15_000, 'a request rate for v1');
      await eventually(async () => /ms$/.test((await cellOf(page, 'linear', 1, 'p99').textContent()) ?? ''), 15_000, 'a p99 for v1');
      // The queue depth gauge from /metrics (empty between requests).
      expect(await cellOf(page, 'linear', 1, 'queue').textContent()).toMatch(/^\d+$/);
      // No failures: 0 %, or no figure once the requests left the window.
      expect(await cellOf(page, 'linear', 1, 'errors').textContent()).toMatch(/^(0 %|–)$/);

      // A new version.
      await t.writeLinear('linear', 2, 2);
      await eventually(async () => (await page.locator('tr[data-model="linear"][data-version="2"]').getAttribute('data-state').catch(() => null)) === 'READY', 30_000, 'linear v2 READY on the page');

      // A hot swap: v1's file replaced, served again (READY) without the page reloading.
      const before = Number(await page.locator('body').getAttribute('data-polls'));
      await t.writeLinear('linear', 1, 3);
      await eventually(async () => {
        const response = await t.post('/models/linear/1/predict', LINEAR_INPUT);
        const body = (await response.json()) as { outputs: Record<string, number[][]> };
        return Object.values(body.outputs)[0]![0]![0] === linearAnswer(3)[0]![0];
      }, 30_000, 'the swapped v1 serving');
      await eventually(async () => Number(await page.locator('body').getAttribute('data-polls')) > before + 1, 10_000, 'the page polling on');
      expect(await page.locator('tr[data-model="linear"][data-version="1"]').getAttribute('data-state')).toBe('READY');

      // A route edit.
      await t.writeRoutes({ linear: { default: '1:90,2:10', canary: '2' } });
      await eventually(async () => (await textOf(page, 'article[data-model="linear"] .route')).includes('1:90,2:10'), 15_000, 'the split on the page');
      expect(await cellOf(page, 'linear', 1, 'routed').textContent()).toContain('default 90 %');
      expect(await cellOf(page, 'linear', 2, 'routed').textContent()).toContain('default 10 %');
      expect(await cellOf(page, 'linear', 2, 'routed').textContent()).toContain('canary');

      // The endpoints of other features are absent here: their sections say none.
      for (const section of ['rollouts-section', 'shadow-section', 'nodes-section']) {
        expect(await page.locator('#' + section).getAttribute('data-available')).toBe('false');
        expect(await page.locator(`#${section} > div`).textContent()).toMatch(/^none( \(.*\))?$/);
      }
      expect(await page.evaluate('window.marker')).toBe(42);

      await mkdir(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'status-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`status page screenshot: ${shot}`);
    });

    it('rollouts, shadow agreement and nodes show once their endpoints answer', async () => {
      const proxy = await withOtherFeatures(t.url);
      const page = await openPage(proxy);
      await eventually(async () => (await page.locator('#nodes-section').getAttribute('data-available')) === 'true', 15_000, 'the nodes section');
      expect(await textOf(page, '#nodes td')).toContain('http://10.0.0.7:8080');
      await eventually(async () => (await page.locator('#rollouts-section').getAttribute('data-available')) === 'true', 15_000, 'the rollouts section');
      expect(await textOf(page, '#rollouts td')).toContain('<script>rolling</script>');
      expect(await page.locator('#rollouts script').count()).toBe(0);
      expect(await page.locator('#rollouts details summary').textContent()).toBe('2 rows');
      await eventually(async () => (await page.locator('#shadow-section').getAttribute('data-available')) === 'true', 15_000, 'the shadow section');
      expect(await textOf(page, '#shadows td')).toContain('0.125');
    });
  });

  describe('status page in Chromium with API keys', () => {
    it('asks for the key, keeps it in sessionStorage and reads with it', async () => {
      const t = await startTestGateway({ env: { API_KEYS: 'page-key' } });
      const page = await openPage(t.url);
      await eventually(async () => await page.locator('#auth').isVisible(), 15_000, 'the key prompt');
      expect(await page.locator('tr[data-model]').count()).toBe(0);
      await page.fill('#api-key', 'page-key');
      await page.click('#use-key');
      await eventually(async () => (await cellOf(page, 'linear', 1, 'status').count()) === 1, 15_000, 'linear v1 with the key');
      expect(await page.locator('#auth').isVisible()).toBe(false);
      expect(await page.evaluate("sessionStorage.getItem('switchyard.apiKey')")).toBe('page-key');
    });
  });
}

/**
 * A proxy in front of the gateway that answers GET /cluster and GET /admin/rollouts and adds a
 * `shadow` object to GET /models/<name> (its real shape: one row per shadow version), so the page
 * renders every optional section without Redis or a configured shadow.
 */
async function withOtherFeatures(upstream: string): Promise<string> {
  const target = new URL(upstream);
  const server: Server = createServer((req, res) => {
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/cluster') {
      return json({ nodes: [{ id: 'node-a', url: 'http://10.0.0.7:8080', ready: ['linear@1'], load: 3 }] });
    }
    if (req.url === '/admin/rollouts') {
      return json({
        rollouts: [
          { model: 'linear', target: 2, state: '<script>rolling</script>', weight: 20, history: [{ step: 1, weight: 10 }, { step: 2, weight: 20 }] },
        ],
      });
    }
    const upstreamRequest = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (upstreamResponse) => {
      if (req.url === '/models/linear' && upstreamResponse.statusCode === 200) {
        const chunks: Buffer[] = [];
        upstreamResponse.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstreamResponse.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          json({ ...body, shadow: { versions: [{ version: 2, mirrored: 8, compared: 8, agreed: 7, disagreed: 1, errors: 0, dropped: 0, max_abs_difference: 0.125 }] } });
        });
        return;
      }
      res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(res);
    });
    req.pipe(upstreamRequest);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  cleanupAfter(() => new Promise<void>((done) => server.close(() => done())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
