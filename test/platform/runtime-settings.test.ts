/**
 * What the runtime settings do to a real gateway process, seen from outside it (Linux /proc):
 * RUNTIME_WORKER_NICE is the nice value of the inference threads, RUNTIME_INTRA_OP_THREADS adds
 * onnxruntime threads to each session, RUNTIME_INTER_OP_THREADS adds none (sessions run
 * sequentially), RUNTIME_GRAPH_OPTIMIZATION=disabled turns onnxruntime's optimizer off, and
 * MODEL_WARMUP decides whether a model that cannot run goes live. loadConfig's side of each is
 * held by test/readme/configuration-table.test.ts.
 *
 * Node names every worker thread "WorkerThread", and the threads onnxruntime starts inside one
 * inherit that name and its nice value, so the threads of the inference workers are the ones so
 * named. One worker and one serving session per process make their count exact.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SETTING_DEFAULTS } from '../../src/config.js';
import { eventually, LINEAR_INPUT, startTestGateway } from '../support/gateway.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { fixedRowsModel, linearModel, unfoldableConstantModel } from '../support/models.js';
import { tempDir, writeRepository } from '../support/temp-dir.js';

interface ThreadInfo {
  readonly name: string;
  readonly nice: number;
}

function threadsOf(pid: number | 'self'): ThreadInfo[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // tid (name) state ppid ...: nice is field 19, the 17th after the name.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return [{ name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), nice: Number(fields[16]) }];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

const ownNice = threadsOf('self')[0]!.nice;
/** A nice value above the runner's (a thread may always be made nicer, never less nice). */
const niceValue = String(Math.min(19, ownNice + 3));

/**
 * A gateway with one worker serving the linear model (and the unfoldable one, which fails its
 * required warmup, so that the linear model's is the one serving session).
 */
async function start(env: Record<string, string>): Promise<GatewayProcess> {
  const repo = await tempDir('settings-repo');
  await writeRepository(repo.path, { linear: { 1: linearModel(1) }, unfoldable: { 1: unfoldableConstantModel() } });
  await repo.write('unfoldable/config.json', JSON.stringify({ warmup: 'required' }));
  const gateway = await startGatewayProcess({ RUNTIME_WORKERS: '1', ...env, MODEL_REPO: repo.path });
  // One run, so that whatever a session starts lazily has started.
  const answer = await fetch(gateway.url + '/models/linear/1/predict', { method: 'POST', body: JSON.stringify(LINEAR_INPUT) });
  expect(answer.status).toBe(200);
  return gateway;
}

const inferenceThreads = (gateway: GatewayProcess) => threadsOf(gateway.pid).filter((thread) => thread.name === 'WorkerThread');
/** Every thread of each gateway by name, for a failure message. */
const seen = (...gateways: GatewayProcess[]) => gateways.map((gateway) => threadsOf(gateway.pid).map((thread) => `${thread.name}@${thread.nice}`).join(' ')).join('\n');

let defaults: GatewayProcess;
let changed: GatewayProcess;
let other: GatewayProcess;

beforeAll(async () => {
  expect(ownNice, 'the runner itself runs at nice 19: no higher value is left to test').toBeLessThan(19);
  defaults = await start({});
  changed = await start({ RUNTIME_INTRA_OP_THREADS: '3', RUNTIME_WORKER_NICE: niceValue });
  other = await start({ RUNTIME_INTER_OP_THREADS: '3', RUNTIME_WORKER_NICE: '0', RUNTIME_GRAPH_OPTIMIZATION: 'disabled' });
}, 120_000);

describe('RUNTIME_WORKER_NICE', () => {
  it('is the nice value of every inference thread; the HTTP thread keeps the process value', () => {
    expect(new Set(inferenceThreads(defaults).map((thread) => thread.nice))).toEqual(new Set([Math.max(ownNice, Number(SETTING_DEFAULTS.RUNTIME_WORKER_NICE))]));
    expect(new Set(inferenceThreads(changed).map((thread) => thread.nice))).toEqual(new Set([Number(niceValue)]));
    for (const gateway of [defaults, changed]) expect(threadsOf(gateway.pid)[0]!.nice).toBe(ownNice);
  });

  it('0 leaves them at the process value', () => {
    expect(new Set(inferenceThreads(other).map((thread) => thread.nice))).toEqual(new Set([ownNice]));
  });
});

describe('RUNTIME_INTRA_OP_THREADS', () => {
  // Counted until they agree: a thread that comes and goes (a session being released) is not the setting's.
  it('gives each session that many threads: 3 adds two to the one serving session', async () => {
    const added = 3 - Number(SETTING_DEFAULTS.RUNTIME_INTRA_OP_THREADS);
    await eventually(() => inferenceThreads(changed).length - inferenceThreads(defaults).length === added, 10_000, () => `${added} more threads in\n${seen(defaults, changed)}`);
  });
});

describe('RUNTIME_INTER_OP_THREADS', () => {
  it('starts no thread: sessions run sequentially, and only a parallel session has an inter-op pool', async () => {
    await eventually(() => inferenceThreads(other).length === inferenceThreads(defaults).length, 10_000, () => `as many threads in\n${seen(defaults, other)}`);
  });
});

describe('RUNTIME_GRAPH_OPTIMIZATION', () => {
  // onnxruntime gives no way to read a session's options back; its constant-folding pass, which
  // runs at every level but `disabled`, reports on stderr the node it cannot fold.
  const folding = /Exception during constant folding/;

  it('optimizes the graph by default', () => {
    expect(defaults.stderr()).toMatch(folding);
  });

  it('disabled: the optimizer does not run', () => {
    expect(other.stderr()).not.toMatch(folding);
  });
});

describe('MODEL_WARMUP', () => {
  // Loads, but runs only on exactly two rows: the one-row warmup fails.
  const models = { fixed: { 1: fixedRowsModel(3, 2) } };
  const state = async (url: string) => ((await (await fetch(url + '/models/fixed')).json()) as { versions: Array<{ state: string; reason?: string }> }).versions[0];

  it('keeps a model whose required warmup fails from going live', async () => {
    const t = await startTestGateway({ models, listenOnly: true });
    await t.writeModelConfig('fixed', { warmup: 'required' });
    await t.gateway.loadRepository();
    const version = await state(t.url);
    expect(version?.state).toBe('FAILED');
    expect(version?.reason).toMatch(/warmup/);
  });

  it('false: the same model goes live without a warmup run, even when config.json requires one', async () => {
    const t = await startTestGateway({ models, env: { MODEL_WARMUP: 'false' }, listenOnly: true });
    await t.writeModelConfig('fixed', { warmup: 'required' });
    await t.gateway.loadRepository();
    expect((await state(t.url))?.state).toBe('READY');
  });
});
