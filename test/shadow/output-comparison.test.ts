/**
 * The comparison of a shadow's outputs with the primary's, on plain tensors: closeness within
 * rtol/atol, shape and datatype mismatches, argmax agreement of class scores, and the grammar of
 * the routing table's `shadow` field.
 */
import { describe, expect, it } from 'vitest';
import { compareOutputs } from '../../src/shadow/output-comparison.js';
import { RouteTable, routesFrom } from '../../src/routing/route-table.js';
import { parseShadowTarget } from '../../src/routing/shadow-target.js';
import type { Tensor } from '../../src/tensor.js';

const fp32 = (shape: number[], values: number[]): Tensor => ({ datatype: 'FP32', shape, data: Float32Array.from(values) });
const tolerance = { rtol: 1e-5, atol: 1e-6 };

describe('compareOutputs', () => {
  it('agrees on identical outputs with difference 0', () => {
    const a = { scores: fp32([2, 3], [1, 2, 3, 4, 5, 6]) };
    expect(compareOutputs(a, { scores: fp32([2, 3], [1, 2, 3, 4, 5, 6]) }, tolerance)).toEqual({ agreed: true, maxAbsDifference: 0, argmaxRows: 2, argmaxAgreed: 2 });
  });

  it('agrees within atol + rtol * |primary| and reports the largest difference', () => {
    const result = compareOutputs({ y: fp32([1, 2], [1000, 0]) }, { y: fp32([1, 2], [1000.005, 0.0000005]) }, tolerance);
    expect(result.agreed).toBe(true);
    expect(result.maxAbsDifference).toBeCloseTo(0.005, 3);
  });

  it('disagrees beyond the tolerance, and counts argmax rows that changed', () => {
    const result = compareOutputs({ y: fp32([2, 2], [1, 2, 3, 1]) }, { y: fp32([2, 2], [1, 2, 1, 3]) }, tolerance);
    expect(result).toMatchObject({ agreed: false, maxAbsDifference: 2, argmaxRows: 2, argmaxAgreed: 1 });
  });

  it('disagrees on another shape, datatype or a missing output, without a difference', () => {
    expect(compareOutputs({ y: fp32([1, 2], [1, 2]) }, { y: fp32([2, 1], [1, 2]) }, tolerance)).toMatchObject({ agreed: false, maxAbsDifference: 0 });
    expect(compareOutputs({ y: fp32([2], [1, 2]) }, { y: { datatype: 'FP64', shape: [2], data: Float64Array.from([1, 2]) } }, tolerance).agreed).toBe(false);
    expect(compareOutputs({ y: fp32([2], [1, 2]) }, {}, tolerance).reason).toBe('output "y" is missing');
  });

  it('does not treat 1-D outputs, one-class columns or integers as class scores', () => {
    expect(compareOutputs({ y: fp32([3], [1, 2, 3]) }, { y: fp32([3], [1, 2, 3]) }, tolerance).argmaxRows).toBe(0);
    expect(compareOutputs({ y: fp32([3, 1], [1, 2, 3]) }, { y: fp32([3, 1], [1, 2, 3]) }, tolerance).argmaxRows).toBe(0);
    const ints: Tensor = { datatype: 'INT64', shape: [1, 2], data: BigInt64Array.from([1n, 2n]) };
    expect(compareOutputs({ y: ints }, { y: ints }, tolerance)).toMatchObject({ agreed: true, argmaxRows: 0 });
  });
});

describe('the shadow field', () => {
  it('parses <version>:<percent> with integer or decimal percents in (0, 100]', () => {
    expect(parseShadowTarget('3:10')).toEqual({ version: 3, percent: 10 });
    expect(parseShadowTarget(' 3 : 0.5 ')).toEqual({ version: 3, percent: 0.5 });
    expect(parseShadowTarget('3:100')).toEqual({ version: 3, percent: 100 });
    for (const bad of ['3', '3:0', '3:100.5', '03:10', '3:10,4:5', 'stable', '3:-1', '']) expect(() => parseShadowTarget(bad), bad).toThrow();
  });

  it('is reserved in a table: never an alias, a bad value a problem', () => {
    const table = new RouteTable(routesFrom([['default', '1'], ['shadow', '2:150']]));
    expect(table.shadow).toBeUndefined();
    expect(table.lookup('shadow')).toEqual({ kind: 'missing' });
    expect(table.problems()).toEqual([{ alias: 'shadow', target: '2:150', reason: 'has a shadow percent outside 0 < percent <= 100' }]);
    const good = new RouteTable(routesFrom([['default', 'shadow'], ['shadow', '2:10']]));
    expect(good.shadow).toEqual({ version: 2, percent: 10 });
    expect(good.lookup('default')).toMatchObject({ kind: 'invalid' });
  });
});
