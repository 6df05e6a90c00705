/**
 * Open Inference Protocol request decoding of 64-bit integers written as JSON numbers: Python's
 * json and Triton's clients write every digit of an INT64/UINT64, which JSON.parse alone would round
 * to the nearest double beyond 2^53.
 */
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../support/errors.js';
import { decodeInferRequest } from '../../src/protocol/oip-request.js';
import type { Datatype, ModelSignature } from '../../src/tensor.js';

function signature(datatype: Datatype): ModelSignature {
  return { inputs: [{ name: 'input', datatype, shape: [-1, -1] }], outputs: [{ name: 'output', datatype, shape: [-1, -1] }] };
}

/** A JSON body written as text, so numbers keep the digits a client wrote. */
function decode(datatype: Datatype, dataText: string) {
  const body = Buffer.from(`{"inputs":[{"name":"input","shape":[1,3],"datatype":"${datatype}","data":${dataText}}]}`);
  return decodeInferRequest(body, undefined, signature(datatype)).inputs.input!;
}

describe('INT64 and UINT64 as JSON numbers beyond 2^53', () => {
  it('keeps every digit, flat and nested', () => {
    for (const text of ['[9007199254740993,-9223372036854775808,9223372036854775807]', '[[9007199254740993,-9223372036854775808,9223372036854775807]]']) {
      expect(Array.from(decode('INT64', text).data as BigInt64Array)).toEqual([9007199254740993n, -9223372036854775808n, 9223372036854775807n]);
    }
    expect(Array.from(decode('UINT64', '[18446744073709551615,9007199254740993,0]').data as BigUint64Array)).toEqual([
      18446744073709551615n,
      9007199254740993n,
      0n,
    ]);
  });

  it('refuses a value outside the range with a 400 that shows it', () => {
    const caught = thrownBy(() => decode('INT64', '[1,2,9223372036854775808]'));
    expect({ status: caught.status, message: caught.message }).toEqual({
      status: 400,
      message: "input 'input': element 2 is 9223372036854775808; INT64 expects integers in the INT64 range",
    });
  });

  it('leaves other datatypes and fields as JSON.parse reads them', () => {
    // A 20-digit integer literal for FP64 is a double like any other number.
    expect(Array.from(decode('FP64', '[100000000000000000000,0.5,1]').data as Float64Array)).toEqual([1e20, 0.5, 1]);
    const body = Buffer.from('{"inputs":[{"name":"input","shape":[1,2],"datatype":"INT64","data":[1,2]}],"parameters":{"timeout":90071992547409930}}');
    expect(() => decodeInferRequest(body, undefined, signature('INT64'))).toThrow(/"timeout" must be a non-negative integer/);
  });
});
