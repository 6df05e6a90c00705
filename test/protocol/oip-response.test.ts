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
