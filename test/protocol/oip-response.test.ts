/**
 * Open Inference Protocol JSON answers as parsers other than JavaScript's read them: Python's json
 * and rapidjson (tritonclient.http) read an integer literal as an integer, so a float output's
 * negative zero must be written with a fraction to keep its sign.
 */
import { describe, expect, it } from 'vitest';
import { encodeInferResponse, flatJsonData } from '../../src/protocol/oip-response.js';
import type { Tensor } from '../../src/tensor.js';

describe('negative zero in JSON outputs', () => {
  it.each<Tensor>([
    { datatype: 'FP16', shape: [3], data: Uint16Array.from([0x8000, 0x0000, 0x3e00]) },
    { datatype: 'FP32', shape: [3], data: Float32Array.from([-0, 0, 1.5]) },
    { datatype: 'FP64', shape: [3], data: Float64Array.from([-0, 0, 1.5]) },
  ])('$datatype writes -0.0, not -0', (tensor) => {
    expect(flatJsonData(tensor)).toBe('[-0.0,0,1.5]');
    const { body } = encodeInferResponse({ model: 'm', version: 1, id: undefined, outputs: { y: tensor }, order: ['y'], binaryOutputs: new Set() });
    expect(Object.is(JSON.parse(body.toString()).outputs[0].data[0], -0)).toBe(true);
  });
});

describe('float outputs as JSON text', () => {
  it.each(['FP32', 'FP64'] as const)('%s text is what JSON.stringify writes of each value, NaN and ±Infinity as null', (datatype) => {
    const values = [0, 1, -1, 0.1, 1 / 3, -2.5e-8, 3.4e38, 1e21, 1.1754943508222875e-38, 5e-324, 123456789, -0.875];
    const data = datatype === 'FP32' ? Float32Array.from(values) : Float64Array.from(values);
    expect(flatJsonData({ datatype, shape: [values.length], data })).toBe(JSON.stringify(Array.from(data)));
    const special = datatype === 'FP32' ? Float32Array.from([1.5, NaN, Infinity, -Infinity]) : Float64Array.from([1.5, NaN, Infinity, -Infinity]);
    expect(flatJsonData({ datatype, shape: [4], data: special })).toBe('[1.5,null,null,null]');
  });
});
