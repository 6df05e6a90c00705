/**
 * One rule for model names and versions: the repository scan (folders on disk) and the HTTP
 * path parameters (native and V2 routes) accept and refuse exactly the same strings.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { assertModelName, assertVersionSpec } from '../../src/http/request-params.js';
import { isValidModelName, parseVersion } from '../../src/repository/model-name.js';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';
import { linearModel } from '../support/models.js';

const NAMES = [
  'm', 'M0', '0', '007', '1e3', 'my_model', 'my-model', 'v1.2.3', 'a.', 'x'.repeat(128),
  'x'.repeat(129), '.hidden', '-x', '_x', 'a..b', 'modèle', '模型', 'a b', ' a', 'a+b', 'a@b', 'a~b', 'a:b',
];
const ACCEPTED_NAMES = ['m', 'M0', '0', '007', '1e3', 'my_model', 'my-model', 'v1.2.3', 'a.', 'x'.repeat(128)];

/** Version folders of the model `versions`; none starts with a lower-case letter, so none reads as an alias. */
const VERSIONS = [
  '1', '2', '10', '1000000000', String(2 ** 53 - 1), String(2 ** 53), '0', '007', '01', '1e3', '+1', '-1',
  '1.0', ' 1', '1 ', '١', '1_000', '0x10', 'Z',
];
const ACCEPTED_VERSIONS = ['1', '2', '10', '1000000000', String(2 ** 53 - 1)];

let t: TestGateway;

beforeAll(async () => {
  const bytes = linearModel(1);
  // Folder names are strings; the helper's type says numbers because most tests use plain versions.
  const models: Record<string, Record<string, Uint8Array>> = { versions: Object.fromEntries(VERSIONS.map((v) => [v, bytes])) };
  for (const name of NAMES) models[name] = { 1: bytes };
  t = await startTestGateway({ models: models as Record<string, Record<number, Uint8Array>> });
});
afterAll(() => t?.close());

function accepts(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

/** 'accepted' when the gateway served the request, 'refused' on 400 INVALID_MODEL_NAME; anything else is reported as is. */
async function httpVerdict(response: Response): Promise<string> {
  const text = await response.text();
  if (response.status === 200) return 'accepted';
  if (response.status === 400 && text.includes('INVALID_MODEL_NAME')) return 'refused';
  if (response.status === 400 && text.includes('invalid')) return 'refused'; // V2 shape: {"error": "invalid model name ..."}
  return `${response.status} ${text}`;
}

it('names: the scan loads exactly the names the native and V2 routes accept', async () => {
  const scanned = new Set(t.gateway.repository.list().map((model) => model.name));
  const verdicts = [];
  for (const name of NAMES) {
    const segment = encodeURIComponent(name);
    const native = await httpVerdict(await t.post(`/models/${segment}/1/predict`, LINEAR_INPUT));
    const v2 = await httpVerdict(await fetch(`${t.url}/v2/models/${segment}/versions/1/ready`));
    verdicts.push({ name, scan: scanned.has(name) ? 'accepted' : 'refused', native, v2 });
  }
  expect(verdicts.filter((v) => v.native !== v.scan || v.v2 !== v.scan)).toEqual([]);
  expect(verdicts.filter((v) => v.scan === 'accepted').map((v) => v.name)).toEqual(ACCEPTED_NAMES);
  // Names no folder and no URL segment can carry: the same functions still agree.
  for (const name of [...NAMES, '', '.', '..', 'a/b', 'a\\b', 'a\u0000b']) {
    expect(accepts(() => assertModelName(name)), JSON.stringify(name)).toBe(isValidModelName(name));
  }
});

it('versions: the scan loads exactly the versions the native and V2 routes accept', async () => {
  const scanned = new Set(t.gateway.repository.list().find((model) => model.name === 'versions')!.versions);
  const verdicts = [];
  for (const version of VERSIONS) {
    const segment = encodeURIComponent(version);
    const native = await httpVerdict(await t.post(`/models/versions/${segment}/predict`, LINEAR_INPUT));
    const v2 = await httpVerdict(await fetch(`${t.url}/v2/models/versions/versions/${segment}/ready`));
    const parsed = parseVersion(version);
    const scan = parsed !== undefined && scanned.has(parsed) && String(parsed) === version ? 'accepted' : 'refused';
    verdicts.push({ version, scan, native, v2, params: accepts(() => assertVersionSpec(version)) ? 'accepted' : 'refused' });
  }
  expect(verdicts.filter((v) => v.native !== v.scan || v.v2 !== v.scan || v.params !== v.scan)).toEqual([]);
  expect(verdicts.filter((v) => v.scan === 'accepted').map((v) => v.version)).toEqual(ACCEPTED_VERSIONS);
  expect([...scanned].sort((a, b) => a - b)).toEqual(ACCEPTED_VERSIONS.map(Number));
});
