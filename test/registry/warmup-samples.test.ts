/**
 * Warmup as Triton and TF Serving do it, through a real gateway: models whose inputs are op
 * parameters (a Resize's scales, a Slice's steps, a Reshape's shape, an integer Mod's divisor)
 * fail the generated zero warmup in onnxruntime, yet load and answer real inputs. With `auto` they
 * serve (the failure logged and counted), with `required` they are FAILED; samples shipped in
 * warmup/ folders run instead, and a bad one fails the load naming its file. Real sessions, real
 * files, real HTTP.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ParameterInputOp } from '../../tools/model-builder/index.js';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.js';
import { captureLog } from '../support/log-capture.js';
import { parameterInputModel, type ModelSet } from '../support/models.js';
import { writeTextAtomically } from '../support/temp-dir.js';
import { parseExposition, valueOf } from '../metrics/prometheus-text.js';

interface VersionBody {
  version: number;
  state: string;
  reason?: string;
  inputs: Array<{ name: string }>;
  warmup?: { mode: string; source: string; samples: number; ran: number; last_error?: string };
}

interface ModelBody {
  versions: VersionBody[];
  config: Record<string, unknown>;
  config_error?: string;
}

/** Per op: a real request (native body), what it must answer, and onnxruntime's complaint about zeros. */
const CASES: Record<ParameterInputOp, { request: Record<string, unknown>; answer: unknown; zeroFailure: RegExp }> = {
  resize: {
    request: { x: [[[[1, 2], [3, 4]]]], scales: [1, 1, 2, 2] },
    answer: [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]],
    zeroFailure: /Scale value should be greater than 0/,
  },
  slice: {
    request: { x: [[1, 2, 3, 4], [5, 6, 7, 8]], starts: [1], ends: [3], axes: [1], steps: [1] },
    answer: [[2, 3], [6, 7]],
    zeroFailure: /'step' value cannot be 0/,
  },
  reshape: {
    request: { x: [[1, 2, 3, 4, 5, 6]], shape: [1, 2, 3] },
    answer: [[[1, 2, 3], [4, 5, 6]]],
    zeroFailure: /dimension with value zero exceeds/,
  },
  mod: {
    // Integer Mod takes the divisor's sign, as Python's %.
    request: { a: [[7, -7, 8]], b: [[3, 3, -3]] },
    answer: [[1, 2, -1]],
    zeroFailure: /Integer modulo by zero/,
  },
};

const OPS = Object.keys(CASES) as ParameterInputOp[];

/** Every parameter-input model as version 1 of a model named after its op. */
const allOps = (): ModelSet => Object.fromEntries(OPS.map((op) => [op, { 1: parameterInputModel(op) }]));

/** A gateway over `models` whose repository also holds `files` (relative path -> text or JSON) before the first scan. */
async function start(models: ModelSet, files: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const capture = captureLog({ level: 'warn' });
  const t = await startTestGateway({ models, env, listenOnly: true, logger: capture.logger });
  for (const [relative, content] of Object.entries(files)) {
    await writeTextAtomically(join(t.repo, relative), typeof content === 'string' ? content : JSON.stringify(content));
  }
  const ignored: string[] = [];
  t.gateway.repository.on('ignored', (e) => ignored.push(e.path));
  await t.gateway.loadRepository();
  return { t, ignored, log: capture.lines };
}

async function model(t: TestGateway, name: string): Promise<ModelBody> {
  const response = await t.get(`/models/${name}`);
  expect(response.status).toBe(200);
  return (await response.json()) as ModelBody;
}

async function version(t: TestGateway, name: string, v = 1): Promise<VersionBody> {
  const found = (await model(t, name)).versions.find((each) => each.version === v);
  expect(found, `${name} version ${v}`).toBeDefined();
  return found!;
}

async function predict(t: TestGateway, name: string, inputs: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const response = await t.post(`/models/${name}/1/predict`, { inputs });
  return { status: response.status, body: await response.json() };
}

async function metric(t: TestGateway, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return valueOf(parseExposition(await (await t.get('/metrics')).text()), name, labels);
}

/** A slice request that runs (native); `SLICE_V2` is the same as an Open Inference Protocol body. */
const SLICE_NATIVE = { inputs: CASES.slice.request };
const SLICE_V2 = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] },
    { name: 'starts', datatype: 'INT64', shape: [1], data: [0] },
    { name: 'ends', datatype: 'INT64', shape: [1], data: [2] },
    { name: 'axes', datatype: 'INT64', shape: [1], data: [1] },
    { name: 'steps', datatype: 'INT64', shape: [1], data: [1] },
  ],
};
const MOD_GOOD = { inputs: { a: [[5, 6, 7]], b: [[2, 4, 5]] } };
/** A divisor of zero: decodes, and fails in onnxruntime. */
const MOD_BY_ZERO_V2 = {
  inputs: [
    { name: 'a', datatype: 'INT32', shape: [1, 3], data: [1, 2, 3] },
    { name: 'b', datatype: 'INT32', shape: [1, 3], data: [0, 0, 0] },
  ],
};

describe('warmup "auto" (the default) without samples', () => {
  it('serves each parameter-input model although zeros fail, answers real inputs correctly, and logs and counts the failure', async () => {
    const { t, log } = await start(allOps());
    for (const op of OPS) {
      const status = await version(t, op);
      expect(status.state, `${op}: ${status.reason}`).toBe('READY');
      expect(status.warmup).toMatchObject({ mode: 'auto', source: 'generated', samples: 0, ran: 0 });
      expect(status.warmup!.last_error).toMatch(CASES[op].zeroFailure);

      const answer = await predict(t, op, CASES[op].request);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body.outputs.y).toEqual(CASES[op].answer);

      expect(await metric(t, 'switchyard_warmup_failures_total', { model: op, version: '1' })).toBe(1);
      const warned = log.filter((line) => line.event === 'warmup-failed' && line.model === op);
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ level: 40, version: 1 });
      expect(String(warned[0]!.reason)).toMatch(CASES[op].zeroFailure);
    }
  });

  it('counts nothing when samples warm the model up', async () => {
    const { t } = await start({ slice: { 1: parameterInputModel('slice') } }, { 'slice/warmup/run.json': SLICE_NATIVE });
    expect((await version(t, 'slice')).warmup).toMatchObject({ source: 'samples', ran: 1 });
    expect(await metric(t, 'switchyard_warmup_failures_total', { model: 'slice', version: '1' })).toBeUndefined();
  });
});

describe('warmup "required"', () => {
  it('keeps each parameter-input model FAILED with onnxruntime\'s reason', async () => {
    const configs = Object.fromEntries(OPS.map((op) => [`${op}/config.json`, { warmup: 'required' }]));
    const { t } = await start(allOps(), configs);
    for (const op of OPS) {
      const body = await model(t, op);
      expect(body.config_error).toBeUndefined();
      expect(body.config).toMatchObject({ warmup: 'required' });
      const [status] = body.versions;
      expect(status!.state).toBe('FAILED');
      expect(status!.reason).toMatch(/warmup inference failed/);
      expect(status!.reason).toMatch(CASES[op].zeroFailure);
      expect((await predict(t, op, CASES[op].request)).status).toBe(503);
    }
  });

  it('refuses a mode it does not know, naming the field, and keeps the default (auto)', async () => {
    const { t } = await start({ slice: { 1: parameterInputModel('slice') } }, { 'slice/config.json': { warmup: 'sometimes' } });
    const body = await model(t, 'slice');
    expect(body.config_error).toMatch(/warmup/);
    expect(body.versions[0]).toMatchObject({ state: 'READY', warmup: { mode: 'auto', source: 'generated' } });
  });

  it('is satisfied by samples that run: the version is READY', async () => {
    const { t } = await start({ slice: { 1: parameterInputModel('slice') } }, { 'slice/config.json': { warmup: 'required' }, 'slice/warmup/v2.json': SLICE_V2 });
    expect(await version(t, 'slice')).toMatchObject({ state: 'READY', warmup: { mode: 'required', source: 'samples', samples: 1, ran: 1 } });
  });
});

describe('warmup samples', () => {
  it('run every supplied sample, native and Open Inference Protocol bodies alike, and count them', async () => {
    const { t, ignored } = await start(
      { slice: { 1: parameterInputModel('slice') }, mod: { 1: parameterInputModel('mod') } },
      {
        'slice/warmup/a-native.json': SLICE_NATIVE,
        'slice/warmup/b-v2.json': SLICE_V2,
        'slice/warmup/notes.txt': 'not a sample: only *.json files are',
        'mod/warmup/good.json': MOD_GOOD,
      },
    );
    const slice = await version(t, 'slice');
    expect(slice).toMatchObject({ state: 'READY', warmup: { mode: 'auto', source: 'samples', samples: 2, ran: 2 } });
    expect(slice.warmup!.last_error).toBeUndefined();
    expect(await version(t, 'mod')).toMatchObject({ state: 'READY', warmup: { source: 'samples', samples: 1, ran: 1 } });
    expect((await predict(t, 'mod', CASES.mod.request)).body.outputs.y).toEqual(CASES.mod.answer);
    // The watcher leaves warmup/ to the loads: not reported as a bad version folder.
    expect(ignored).toEqual([]);
  });

  it('a bad sample makes the version FAILED with a reason naming its file; the gateway carries on', async () => {
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`many/warmup/s${String(i).padStart(2, '0')}.json`, MOD_GOOD]));
    const { t } = await start(
      {
        shape: { 1: parameterInputModel('slice') },
        broken: { 1: parameterInputModel('slice') },
        divisor: { 1: parameterInputModel('mod') },
        many: { 1: parameterInputModel('mod') },
        large: { 1: parameterInputModel('mod') },
        quiet: { 1: parameterInputModel('mod') },
        fine: { 1: parameterInputModel('mod') },
      },
      {
        // A row of 3 where the model takes 4.
        'shape/warmup/short-row.json': { inputs: { ...CASES.slice.request, x: [[1, 2, 3]] } },
        'broken/warmup/truncated.json': '{"inputs": {"x": [[1, 2',
        'divisor/warmup/zero-divisor.json': MOD_BY_ZERO_V2,
        ...tooMany,
        'large/warmup/padded.json': JSON.stringify(MOD_GOOD) + ' '.repeat(5000),
        // `off` runs no warmup, so not even a bad sample.
        'quiet/config.json': { warmup: 'off' },
        'quiet/warmup/zero-divisor.json': MOD_BY_ZERO_V2,
        'fine/warmup/good.json': MOD_GOOD,
      },
      { BODY_LIMIT_BYTES: '4096' },
    );
    const failed = async (name: string) => {
      const status = await version(t, name);
      expect(status.state, name).toBe('FAILED');
      return status.reason!;
    };
    const shape = await failed('shape');
    expect(shape).toContain(join(t.repo, 'shape', 'warmup', 'short-row.json'));
    expect(shape).toMatch(/dimension 1 must be 4/);
    const broken = await failed('broken');
    expect(broken).toContain(join(t.repo, 'broken', 'warmup', 'truncated.json'));
    expect(broken).toMatch(/not valid JSON/);
    const divisor = await failed('divisor');
    expect(divisor).toContain(join(t.repo, 'divisor', 'warmup', 'zero-divisor.json'));
    expect(divisor).toMatch(CASES.mod.zeroFailure);
    expect(await failed('many')).toMatch(/holds 17 warmup samples; at most 16/);
    const large = await failed('large');
    expect(large).toContain(join(t.repo, 'large', 'warmup', 'padded.json'));
    expect(large).toMatch(/limit is 4096/);

    expect(await version(t, 'quiet')).toMatchObject({ state: 'READY', warmup: { mode: 'off', source: 'none', samples: 0, ran: 0 } });
    expect(await version(t, 'fine')).toMatchObject({ state: 'READY', warmup: { source: 'samples', ran: 1 } });
    expect((await predict(t, 'fine', CASES.mod.request)).body.outputs.y).toEqual(CASES.mod.answer);
    // A supplied sample that fails is a failed load, not a best-effort warmup failure.
    expect(await metric(t, 'switchyard_warmup_failures_total', { model: 'divisor', version: '1' })).toBeUndefined();
    expect(await metric(t, 'switchyard_model_load_failures_total', { model: 'divisor', version: '1' })).toBe(1);
  });

  it('a version\'s own warmup folder overrides the model\'s', async () => {
    const { t } = await start(
      { layered: { 1: parameterInputModel('mod'), 2: parameterInputModel('mod'), 3: parameterInputModel('mod') } },
      {
        'layered/warmup/zero-divisor.json': MOD_BY_ZERO_V2,
        'layered/2/warmup/good.json': MOD_GOOD,
        'layered/2/warmup/good-too.json': MOD_GOOD,
        // An empty folder is an override too: no samples, so the generated warmup (best effort).
        'layered/3/warmup/README.txt': 'no samples for this version',
      },
    );
    const v1 = await version(t, 'layered', 1);
    expect(v1.state).toBe('FAILED');
    expect(v1.reason).toContain(join(t.repo, 'layered', 'warmup', 'zero-divisor.json'));
    expect(await version(t, 'layered', 2)).toMatchObject({ state: 'READY', warmup: { source: 'samples', samples: 2, ran: 2 } });
    expect(await version(t, 'layered', 3)).toMatchObject({ state: 'READY', warmup: { source: 'generated', samples: 0, ran: 0 } });
  });
});

describe('hot reloads', () => {
  it('under "auto", a new file whose generated warmup fails still swaps in', async () => {
    const { t } = await start({ swap: { 1: parameterInputModel('slice') } });
    expect((await predict(t, 'swap', CASES.slice.request)).body.outputs.y).toEqual(CASES.slice.answer);
    await t.writeModel('swap', 1, parameterInputModel('reshape'));
    await eventually(async () => (await version(t, 'swap')).inputs.some((input) => input.name === 'shape'), 20_000, 'the reshape model to serve');
    expect(await version(t, 'swap')).toMatchObject({ state: 'READY', warmup: { source: 'generated', ran: 0 } });
    expect((await predict(t, 'swap', CASES.reshape.request)).body.outputs.y).toEqual(CASES.reshape.answer);
    expect(await metric(t, 'switchyard_model_swaps_total', { model: 'swap', version: '1' })).toBe(1);
    expect(await metric(t, 'switchyard_warmup_failures_total', { model: 'swap', version: '1' })).toBe(2);

    // Its series goes with the version, as every per-version series does (bounded labels).
    await t.writeModel('swap', 2, parameterInputModel('mod'));
    await eventually(async () => (await metric(t, 'switchyard_warmup_failures_total', { model: 'swap', version: '2' })) === 1, 20_000, 'version 2 counted');
    await rm(join(t.repo, 'swap', '1'), { recursive: true, force: true });
    await eventually(async () => (await metric(t, 'switchyard_warmup_failures_total', { model: 'swap', version: '1' })) === undefined, 20_000, 'version 1 forgotten');
    expect(await metric(t, 'switchyard_warmup_failures_total', { model: 'swap', version: '2' })).toBe(1);
  });

  it('a new file that fails a supplied sample keeps the old session serving, FAILED with the sample named', async () => {
    const { t } = await start({ kept: { 1: parameterInputModel('slice') } }, { 'kept/warmup/slice.json': SLICE_NATIVE });
    expect(await version(t, 'kept')).toMatchObject({ state: 'READY', warmup: { source: 'samples', ran: 1 } });
    // The mod model has no input "x": the slice sample does not fit it.
    await t.writeModel('kept', 1, parameterInputModel('mod'));
    await eventually(async () => (await version(t, 'kept')).state === 'FAILED', 20_000, 'the reload to fail');
    const status = await version(t, 'kept');
    expect(status.reason).toContain(join(t.repo, 'kept', 'warmup', 'slice.json'));
    expect(status.reason).toMatch(/unknown input 'x'/);
    expect((await predict(t, 'kept', CASES.slice.request)).body.outputs.y).toEqual(CASES.slice.answer);
  });
});
