/**
 * Triton's own Python HTTP client, tritonclient.http (pinned in tools/python/requirements-test.txt,
 * installed into .venv/ by tools/python/setup-venv.sh), run unchanged against a live gateway: the
 * driver test/v2/tritonclient/drive.py calls it as its documentation shows and reports one entry
 * per check, and every check is asserted here by name, so a failure says which call broke. The
 * set of names is fixed here too: a driver that stops early fails on the checks it never ran.
 */
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATATYPES } from '../../src/tensor.js';
import { linearModelWeights, type LinearModelOptions } from '../../tools/model-builder/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { identityModels, identityName, LINEAR, linearModel, multiIoModel } from '../support/models.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PYTHON = `${ROOT}.venv/bin/python`;
const DRIVER = fileURLToPath(new URL('./tritonclient/drive.py', import.meta.url));
const SETUP_HINT = 'run `bash tools/python/setup-venv.sh` (npm test runs it as pretest) to make .venv/ with tritonclient[http]';
/** The driver's own bound; far above what ~150 requests on loopback take. */
const DRIVER_TIMEOUT_MS = 150_000;

const ADMIN_TOKEN = 'tritonclient-test-admin-token';
/** The linear model's versions as the driver checks them: version 2 has every weight doubled. */
const LINEAR_VERSIONS: Record<string, LinearModelOptions> = { 1: { ...LINEAR, scale: 1 }, 2: { ...LINEAR, scale: 2 } };
const IDENTITY = Object.fromEntries(DATATYPES.map((datatype) => [datatype, identityName(datatype)]));

const modes = ['in=binary out=binary', 'in=binary out=json', 'in=json out=binary', 'in=json out=json'];
const EXPECTED_CHECKS: readonly string[] = [
  'is_server_live',
  'is_server_ready',
  'is_model_ready linear',
  'is_model_ready linear version 1',
  'is_model_ready unknown model is false',
  'is_model_ready unknown version is false',
  'get_server_metadata',
  'get_model_metadata linear',
  'get_model_metadata linear version 1',
  'get_model_metadata multi_io',
  'get_model_metadata identity models',
  'get_model_config is not served: 404 naming the endpoint',
  'infer linear: no outputs requested, binary input, all outputs binary',
  'infer linear: JSON input, InferRequestedOutput binary_data=False',
  'infer linear: InferRequestedOutput binary_data=True',
  'infer linear: model_version 1 and 2 answer their own weights',
  'infer: request_id is echoed as id',
  'infer: without request_id the response has no id',
  'infer: timeout (microseconds) long enough is honoured',
  'infer: get_response lists exactly the requested outputs, in request order',
  'infer: request_compression_algorithm gzip and deflate, response compression asked',
  'infer: sequence_id, priority and custom parameters are accepted',
  'async_infer: concurrent requests over the client\'s connection pool',
  ...DATATYPES.flatMap((datatype) => modes.map((mode) => `roundtrip ${datatype} ${mode}`)),
  ...['FP16', 'FP32', 'FP64'].map((datatype) => `roundtrip ${datatype} NaN and infinities in=binary out=binary`),
  'error: unknown model',
  'error: unknown version',
  'error: wrong shape',
  'error: wrong datatype',
  'error: missing input',
  'error: unknown input name',
  'error: unknown requested output',
  'error: BYTES element with a NUL byte',
  'error: negative timeout',
  'error: get_model_metadata of an unknown model',
  'error: get_inference_statistics of an unknown model',
  'get_model_repository_index',
  'error: repository index without the admin token',
  'error: repository index with a wrong admin token',
  'unload_model, then the model is not ready and the index says UNLOADED',
  'error: infer on an unloaded model',
  'load_model, then the model is ready and serves',
  'error: load_model with a config override',
  'error: load_model of an unknown model',
  'error: unload_model of an unknown model',
  'get_inference_statistics: every model and version',
  'get_inference_statistics linear: one entry per version',
  'get_inference_statistics linear version 1 counts the requests it served',
];

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly observed: unknown;
  readonly expected: unknown;
}

interface DriverRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the driver with the spec on stdin; never blocks this process's event loop (the gateway lives here). */
function runDriver(spec: unknown): Promise<DriverRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [DRIVER], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${DRIVER_TIMEOUT_MS} ms]`;
      child.kill('SIGKILL');
    }, DRIVER_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(JSON.stringify(spec));
  });
}

async function assertVenv(): Promise<void> {
  try {
    await access(PYTHON, constants.X_OK);
  } catch {
    throw new Error(`${PYTHON} is missing: ${SETUP_HINT}`);
  }
}

let t: TestGateway | undefined;
let report: Map<string, Check> | undefined;
let reportedNames: string[] = [];
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    await assertVenv();
    const models = {
      linear: { 1: linearModel(1), 2: linearModel(2) },
      spare: { 1: linearModel(1) },
      multi_io: { 1: multiIoModel() },
      ...identityModels(DATATYPES),
    };
    t = await startTestGateway({ env: { ADMIN_TOKEN }, models });

    const linear = Object.fromEntries(
      Object.entries(LINEAR_VERSIONS).map(([version, options]) => {
        const { weight, bias } = linearModelWeights(options);
        return [version, { inputSize: options.inputSize, outputSize: options.outputSize, weight: Array.from(weight), bias: Array.from(bias) }];
      }),
    );
    const spec = {
      url: new URL(t.url).host, // "127.0.0.1:PORT", as the client's documentation writes it
      adminToken: ADMIN_TOKEN,
      datatypes: DATATYPES,
      identity: IDENTITY,
      models: Object.fromEntries(Object.entries(models).map(([name, versions]) => [name, Object.keys(versions)])),
      spare: 'spare',
      linear,
    };
    const run = await runDriver(spec);
    const last = run.stdout.trim().split('\n').at(-1) ?? '';
    let parsed: { checks?: Check[] } | undefined;
    try {
      parsed = JSON.parse(last) as { checks?: Check[] };
    } catch {
      parsed = undefined;
    }
    if (run.code !== 0 || !Array.isArray(parsed?.checks)) {
      const importFailed = /ModuleNotFoundError|No module named/.test(run.stderr);
      throw new Error(
        `the driver exited ${run.code} without a report${importFailed ? ` (${SETUP_HINT})` : ''}\n--- stderr ---\n${run.stderr.slice(-4000)}\n--- stdout ---\n${run.stdout.slice(-2000)}`,
      );
    }
    reportedNames = parsed.checks.map((check) => check.name);
    report = new Map(parsed.checks.map((check) => [check.name, check]));
  } catch (error) {
    // Kept, and thrown by every test below: a missing venv fails the suite, it never skips it.
    setupError = error as Error;
  }
}, 240_000);

afterAll(async () => {
  await t?.close();
});

function theReport(): Map<string, Check> {
  if (setupError) throw setupError;
  if (!report) throw new Error('the driver produced no report');
  return report;
}

describe('tritonclient.http, unchanged, against a live Switchyard', () => {
  it('ran every expected check exactly once, and no other', () => {
    theReport();
    const duplicates = reportedNames.filter((name, index) => reportedNames.indexOf(name) !== index);
    expect({
      missing: EXPECTED_CHECKS.filter((name) => !reportedNames.includes(name)),
      unexpected: reportedNames.filter((name) => !EXPECTED_CHECKS.includes(name)),
      duplicates,
    }).toEqual({ missing: [], unexpected: [], duplicates: [] });
  });

  it.each(EXPECTED_CHECKS)('%s', (name) => {
    const check = theReport().get(name);
    expect(check, `the driver reported no check '${name}' (it stopped before it?)`).toBeDefined();
    expect(check!.ok, `observed: ${JSON.stringify(check!.observed)}\nexpected: ${JSON.stringify(check!.expected)}`).toBe(true);
  });
});
