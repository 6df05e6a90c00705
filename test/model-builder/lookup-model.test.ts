/**
 * The lookup model, judged by onnxruntime itself: good indices read the table, and one index out
 * of range fails the whole run, in a batch as alone (the data-dependent failure the batcher's
 * split-on-failure tests rely on).
 */
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLookupModel, lookupValue } from '../../tools/model-builder/index.js';

const sessions: ort.InferenceSession[] = [];
afterAll(async () => {
  await Promise.all(sessions.map((session) => session.release()));
});

function indices(values: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [values.length, 1]);
}

describe('buildLookupModel', () => {
  it('declares index INT64 [batch, 1] -> value FP32 [batch, 1] and reads table[index]', async () => {
    const session = await ort.InferenceSession.create(buildLookupModel({ size: 8 }));
    sessions.push(session);
    expect(session.inputNames).toEqual(['index']);
    expect(session.outputNames).toEqual(['value']);
    const { value } = await session.run({ index: indices([0, 3, 7, -1]) });
    expect(value!.dims).toEqual([4, 1]);
    expect(Array.from(value!.data as Float32Array)).toEqual([0, 3, 7, 7].map(lookupValue));
  });

  it('fails the whole run when one index is outside the table', async () => {
    const session = await ort.InferenceSession.create(buildLookupModel({ size: 8 }));
    sessions.push(session);
    await expect(session.run({ index: indices([1, 8, 2]) })).rejects.toThrow(/out of (data )?bounds|range/i);
    await expect(session.run({ index: indices([1, 2]) })).resolves.toBeDefined();
  });
});
