/**
 * Status page benchmark (issue 16): what open status pages cost a gateway under a steady predict
 * load. Linear model predict req/s (32 connections) with no page open vs five pages open, each
 * page played by an HTTP client doing exactly what static/status/status-page.js does once a
 * second: GET /models, then at once GET /models/<name> for every model, GET /metrics, GET /cluster
 * and GET /admin/rollouts. (Clients rather than five headless browsers: on a small machine the
 * browsers' own CPU would be measured, not the gateway's cost.) Measured in the order none,
 * pages, pages, none, so drift in the machine's load over the run cancels out.
 * Target: req/s with five pages ÷ req/s with none >= 0.95.
 */
import { combineLoads, formatLoad, runLoad, type LoadOptions, type LoadResult } from '../support/load.js';
import { createBenchRepo, linearBody } from '../support/model-repo-fixture.js';
import { startGatewayProcess } from '../support/server-process.js';
import type { ScenarioReport } from './core-gateway.js';

const CONNECTIONS = 32;
const PAGES = 5;
/** The page's own poll interval (POLL_MS in static/status/status-page.js). */
const POLL_MS = 1000;

interface PageClients {
  stop(): Promise<{ polls: number; reads: number; failedReads: number }>;
}

/** `count` pollers reading what the page reads, each waiting POLL_MS after a finished poll as the page does. */
function openPages(url: string, count: number): PageClients {
  let running = true;
  let polls = 0;
  let reads = 0;
  let failedReads = 0;
  const read = async (path: string, as: 'json' | 'text'): Promise<unknown> => {
    reads += 1;
    const response = await fetch(url + path, { headers: { accept: as === 'json' ? 'application/json' : 'text/plain' } });
    const body = as === 'json' ? await response.json().catch(() => undefined) : await response.text();
    // /cluster and /admin/rollouts answer 404 until those features exist: the page expects that.
    if (response.status !== 200 && !(response.status === 404 && (path === '/cluster' || path === '/admin/rollouts'))) failedReads += 1;
    return body;
  };
  const page = async (offset: number): Promise<void> => {
    await new Promise((resolve) => setTimeout(resolve, (offset * POLL_MS) / count));
    while (running) {
      const list = (await read('/models', 'json')) as { models?: Array<{ name: string }> } | undefined;
      const names = (list?.models ?? []).map((model) => model.name);
      await Promise.all([
        ...names.map((name) => read('/models/' + encodeURIComponent(name), 'json')),
        read('/metrics', 'text'),
        read('/cluster', 'json'),
        read('/admin/rollouts', 'json'),
      ]);
      polls += 1;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };
  const pages = Array.from({ length: count }, (_, i) => page(i));
  return {
    async stop() {
      running = false;
      await Promise.all(pages);
      return { polls, reads, failedReads };
    },
  };
}

export async function statusPageScenario(durationSeconds: number): Promise<ScenarioReport> {
  const repo = await createBenchRepo();
  const lines: string[] = [];
  const ratios: ScenarioReport['ratios'] = [];
  const gateway = await startGatewayProcess(repo.root, { LOG_LEVEL: 'silent' });
  const load = (): LoadOptions => ({ url: gateway.url + '/models/linear/1/predict', method: 'POST', body: linearBody(), connections: CONNECTIONS, durationSeconds });
  const withPages = async (): Promise<{ result: LoadResult; polls: number; reads: number; failedReads: number }> => {
    const pages = openPages(gateway.url, PAGES);
    const result = await runLoad(load());
    return { result, ...(await pages.stop()) };
  };
  try {
    const page = await (await fetch(gateway.url + '/')).text();
    if (!page.includes('status-page.js')) throw new Error('GET / did not serve the status page');
    await runLoad({ ...load(), durationSeconds: Math.min(2, durationSeconds) }); // warm up (JIT, sessions)
    const none = [await runLoad(load())];
    const open = [await withPages(), await withPages()];
    none.push(await runLoad(load()));
    const closed = combineLoads(none);
    const opened = combineLoads(open.map((run) => run.result));
    const polls = open.reduce((sum, run) => sum + run.polls, 0);
    const reads = open.reduce((sum, run) => sum + run.reads, 0);
    const failedReads = open.reduce((sum, run) => sum + run.failedReads, 0);
    lines.push(`linear predict, no status page      (${CONNECTIONS} conns): ${formatLoad(closed)}`);
    lines.push(`linear predict, ${PAGES} status pages open (${CONNECTIONS} conns): ${formatLoad(opened)}`);
    lines.push(`pages: ${polls} polls, ${reads} reads (${(reads / Math.max(polls, 1)).toFixed(1)} per poll), ${failedReads} failed`);
    const ratio = opened.requestsPerSecond / closed.requestsPerSecond;
    ratios.push({ metric: `linear req/s, ${PAGES} pages open / none`, value: ratio, target: '>= 0.95', ok: ratio >= 0.95 });
    ratios.push({ metric: 'failed requests and page reads', value: closed.failures + opened.failures + failedReads, target: '= 0', ok: closed.failures + opened.failures + failedReads === 0 });
  } finally {
    await gateway.stop();
    await repo.remove();
  }
  return { name: 'status-page', lines, ratios };
}
