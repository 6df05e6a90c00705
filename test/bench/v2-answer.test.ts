/**
 * The peers benchmark measures a peer only when its answer is Switchyard's: the check, against a
 * real Switchyard answer for the request the benchmark sends (the MLP it serves, one V2 JSON row).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlpV2Body } from '../../bench/scenarios/peers.js';
import { MLP_SIZES } from '../../bench/support/model-repo-fixture.js';
import { answerDiffers, readV2Answer, type V2Answer } from '../../bench/support/v2-answer.js';
import { buildMlpModel } from '../../tools/model-builder/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

describe('peer answers against Switchyard', () => {
  let gateway: TestGateway;
  let reference: V2Answer;

  beforeAll(async () => {
    gateway = await startTestGateway({ models: { mlp: { 1: buildMlpModel({ sizes: [...MLP_SIZES] }) } } });
    const response = await gateway.post('/v2/models/mlp/infer', mlpV2Body());
    expect(response.status).toBe(200);
    reference = readV2Answer(await response.text());
  });
  afterAll(() => gateway.close());

  it('reads the first output of the request the benchmark sends', () => {
    expect(reference.shape).toEqual([1, MLP_SIZES[3]]);
    expect(reference.data).toHaveLength(MLP_SIZES[3]);
    expect(reference.data.some((value) => value !== 0)).toBe(true);
  });

  it('takes the same values, flat or nested, and FP32 rounding in the last bits', () => {
    expect(answerDiffers(reference, reference)).toBeUndefined();
    const nested = JSON.stringify({ outputs: [{ name: 'output', shape: reference.shape, datatype: 'FP32', data: [reference.data] }] });
    expect(answerDiffers(reference, readV2Answer(nested))).toBeUndefined();
    const rounded = { shape: reference.shape, data: reference.data.map((value) => value * (1 + 1e-6)) };
    expect(answerDiffers(reference, rounded)).toBeUndefined();
  });

  it('refuses another value, another shape, or fewer elements', () => {
    const data = [...reference.data];
    data[7] = data[7]! + 1e-3;
    expect(answerDiffers(reference, { shape: reference.shape, data })).toMatch(/^element 7 is /);
    expect(answerDiffers(reference, { shape: [MLP_SIZES[3]], data: reference.data })).toMatch(/^shape \[256\]/);
    expect(answerDiffers(reference, { shape: reference.shape, data: reference.data.slice(1) })).toMatch(/^255 elements/);
    expect(answerDiffers(reference, { shape: reference.shape, data: reference.data.map(() => Number.NaN) })).toMatch(/^element 0 is NaN/);
  });
});
