/**
 * Hot swap under load: 32 clients keep predicting while version 1's file is overwritten and new
 * versions appear, more than ten times. Not one request may fail, every answer must come from a
 * version (and weights) that existed, and every retired session must be released.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(() => t.close());

const CLIENTS = 32;
const SWAPS = 12;

it('keeps every request answered while versions are overwritten and added', async () => {
  // version -> scales ever written to it; outputs must match one of them (linear: [5, 1.5] * scale).
  const written = new Map<number, Set<number>>([[1, new Set([1])]]);
  const record = (version: number, scale: number) => {
    if (!written.has(version)) written.set(version, new Set());
    written.get(version)!.add(scale);
  };

  let stop = false;
  const failures: string[] = [];
  const answers: Array<{ version: number; output: number[] }> = [];
  const client = async (index: number) => {
    const path = index % 2 === 0 ? '/models/linear/1/predict' : '/models/linear/predict';
    while (!stop) {
      try {
        const response = await t.post(path, LINEAR_INPUT);
        const body = (await response.json()) as { model_version: string; outputs: { output: number[][] } };
        if (response.status !== 200) failures.push(`${response.status} ${JSON.stringify(body)}`);
        else answers.push({ version: Number(response.headers.get('x-model-version')), output: body.outputs.output[0]! });
      } catch (error) {
        failures.push(String(error));
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));

  const swapsBefore = t.gateway.registry.stats().swaps;
  for (let i = 0; i < SWAPS; i++) {
    const scale = i + 2;
    record(1, scale);
    await t.writeLinear('linear', 1, scale); // overwrite -> reload of version 1
    const newVersion = i + 2;
    record(newVersion, scale);
    await t.writeLinear('linear', newVersion, scale); // a new version appears
    await eventually(
      () => t.gateway.registry.stats().swaps >= swapsBefore + i + 1 && t.gateway.registry.servableVersions('linear').includes(newVersion),
      15_000,
      `swap ${i + 1}`,
    );
  }
  stop = true;
  await Promise.all(clients);

  expect(failures).toEqual([]);
  expect(answers.length).toBeGreaterThan(CLIENTS * SWAPS);
  for (const { version, output } of answers) {
    const scales = written.get(version);
    expect(scales, `version ${version} answered but was never written`).toBeDefined();
    const scale = output[0]! / 5;
    expect(scales!.has(scale), `version ${version} answered with scale ${scale}`).toBe(true);
    expect(output[1]).toBeCloseTo(1.5 * scale, 5);
  }
  // Answers came from several versions and from reloaded weights, not only the first session.
  expect(new Set(answers.map((a) => a.version)).size).toBeGreaterThan(1);
  expect(new Set(answers.filter((a) => a.version === 1).map((a) => a.output[0])).size).toBeGreaterThan(1);

  // Every retired session is released once its in-flight requests ended: only active ones remain.
  const stats = t.gateway.registry.stats();
  expect(stats.swaps - swapsBefore).toBeGreaterThanOrEqual(SWAPS);
  await eventually(() => {
    const s = t.gateway.registry.stats();
    return s.sessionsLoaded - s.sessionsReleased === t.gateway.registry.servableVersions('linear').length;
  }, 5_000, 'retired sessions released');
  const final = t.gateway.registry.stats();
  expect(final.sessionsReleased).toBeGreaterThanOrEqual(SWAPS);
  expect(final.loadFailures).toBe(0);
});
