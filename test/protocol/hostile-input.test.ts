/**
 * The decoders against hostile bodies (issue #12): nesting thousands of levels deep, ragged bodies
 * whose first row would size N² elements, prototype names as keys, numbers for BOOL and lone
 * surrogates in BYTES. Each is a SwitchyardError (a 400 that names the input), never a
 * RangeError (a 500), and nothing large is allocated before the shape is known to be true.
 */
import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/errors.js';
import { decodeNativeRequest, nativeRequestText } from '../../src/protocol/native-json-codec.js';
import { decodeInferRequest } from '../../src/protocol/oip-request.js';
import { tensorFromBinary } from '../../src/protocol/oip-binary.js';
import { tensorFromJson } from '../../src/protocol/tensor-json.js';
import { parseModelConfig } from '../../src/repository/model-config.js';
import type { ModelSignature } from '../../src/tensor.js';
import { MULTI_IO_SIGNATURE } from '../support/models.js';

const LINEAR: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }],
};
const MULTI_IO = MULTI_IO_SIGNATURE as ModelSignature;

/** The error `fn` throws, which must be a SwitchyardError (anything else would be a 500). */
function errorOf(fn: () => unknown): SwitchyardError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SwitchyardError) return error;
    throw new Error(`expected a SwitchyardError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected an error');
}

const deep = (levels: number, inner = ''): string => '['.repeat(levels) + inner + ']'.repeat(levels);

/** `[[0,0,...n zeros],[],[],...]`: n rows, the first n long; a few bytes per row. */
const ragged = (n: number): string => `[[${'0,'.repeat(n - 1)}0]${',[]'.repeat(n - 1)}]`;

const native = (text: string, signature: ModelSignature = LINEAR) => decodeNativeRequest(JSON.parse(text), signature);
const v2 = (text: string, signature: ModelSignature = LINEAR) => decodeInferRequest(Buffer.from(text), undefined, signature);

describe('deep nesting (item 5)', () => {
  it('native nested arrays deeper than the rank are a 400 naming the input', () => {
    for (const levels of [3, 6000, 200_000]) {
      const e = errorOf(() => native(`{"inputs":{"input":${deep(levels, '1')}}}`));
      expect({ status: e.status, code: e.code }).toEqual({ status: 400, code: 'INVALID_INPUT' });
      expect(e.message).toBe("input 'input' is nested more than 2 levels deep; the model expects rank 2 ([-1,4])");
    }
  });

  it('a deep value where an element belongs is a 400 that does not print it', () => {
    const e = errorOf(() => native(`{"inputs":{"input":[[1,2,3,${deep(6000)}]]}}`));
    expect(e.message).toBe("input 'input': element at [0,3] is an array of 1 item; FP32 expects numbers");
    expect(errorOf(() => native(`{"inputs":{"input":{"shape":[1,4],"data":${deep(6000)}}}}`)).message).toContain('"data" is nested more than 2 levels deep');
  });

  it('without a signature the decoder still stops at a fixed rank', () => {
    expect(errorOf(() => tensorFromJson('x', 'FP32', JSON.parse(deep(6000, '1')))).message).toContain('nested more than 64 levels deep');
  });

  it('V2 data, datatype and parameters nested deep are a 400', () => {
    const input = (fields: string) => `{"inputs":[{"name":"input","shape":[1,4],${fields}}]}`;
    // Deeper than Array.prototype.flat(Infinity) can go.
    expect(errorOf(() => v2(input(`"datatype":"FP32","data":${deep(200_000)}`))).message).toContain('"data" is nested more than 2 levels deep');
    expect(errorOf(() => v2(input(`"datatype":${deep(6000)},"data":[1,2,3,4]`))).message).toContain('datatype an array of 1 item');
    expect(errorOf(() => v2(input(`"datatype":"FP32","data":[1,2,3,4],"parameters":{"binary_data_size":${deep(6000)}}`))).code).toBe('INVALID_REQUEST');
    const timeout = `{"inputs":[],"parameters":{"timeout":${deep(6000)}}}`;
    expect(errorOf(() => v2(timeout)).message).toContain('"timeout" must be a non-negative integer number of microseconds, got an array of 1 item');
  });

  it('V2 INT64 data read digit for digit (the reviver parse) refuses deep documents before recursing', () => {
    const signature: ModelSignature = {
      inputs: [
        { name: 'ids', datatype: 'INT64', shape: [-1, 3] },
        { name: 'x', datatype: 'FP32', shape: [-1, 4] },
      ],
      outputs: [],
    };
    const body = `{"inputs":[{"name":"ids","shape":[1,3],"datatype":"INT64","data":[9007199254740993,1,2]},{"name":"x","shape":[1,4],"datatype":"FP32","data":${deep(6000)}}]}`;
    const e = errorOf(() => v2(body, signature));
    expect({ status: e.status, message: e.message }).toEqual({
      status: 400,
      message: "the inference request nests arrays and objects more than 5 levels deep; the model's inputs need at most 5",
    });
    // The exact parse still keeps every digit of a document that nests as deep as its inputs.
    const ok = `{"inputs":[{"name":"ids","shape":[1,3],"datatype":"INT64","data":[[9007199254740993,1,2]],"parameters":{"a":1}},{"name":"x","shape":[1,4],"datatype":"FP32","data":[[1,2,3,4]]}]}`;
    expect(Array.from(v2(ok, signature).inputs.ids!.data as BigInt64Array)).toEqual([9007199254740993n, 1n, 2n]);
  });
  it('a job stores only what the decoder read, so a deep value in an ignored key never reaches JSON.stringify', () => {
    const body = JSON.parse(`{"inputs":{"input":{"shape":[1,4],"data":[1,2,3,4],"note":${deep(20_000)}}},"outputs":["output"],"extra":${deep(20_000)}}`);
    decodeNativeRequest(body, LINEAR);
    expect(nativeRequestText(body)).toBe('{"inputs":{"input":{"shape":[1,4],"data":[1,2,3,4]}},"outputs":["output"]}');
  });
});

describe('ragged bodies allocate nothing before their shape is known (item 6)', () => {
  it('a first row of N and N-1 empty rows is a 400 at the first short row, with no N² buffer', () => {
    const n = 20_000; // N² FP32 elements would be 1.6 GB
    const body = JSON.parse(`{"inputs":{"input":${ragged(n)}}}`);
    const before = process.memoryUsage().arrayBuffers;
    const e = errorOf(() => decodeNativeRequest(body, { ...LINEAR, inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, -1] }] }));
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(e.message).toBe("input 'input': ragged nested array at [1]: expected 20000 items like the first row");
    expect(grown).toBeLessThan(16 * 1024 * 1024);
  });

  it('one too large to allocate at all is a 400, not a RangeError', () => {
    const n = 100_001; // N² > the largest typed array V8 makes
    for (const datatype of ['FP32', 'BYTES'] as const) {
      const e = errorOf(() => tensorFromJson('input', datatype, JSON.parse(ragged(n)), [-1, -1]));
      expect(e.message).toContain("input 'input': ragged nested array at [1]");
    }
  });

  it('a shape is checked against the signature before anything is sized by it', () => {
    expect(errorOf(() => native(`{"inputs":{"input":${ragged(50)}}}`)).message).toContain('dimension 1 must be 4');
    // V2 binary BYTES: a shape of 10^12 elements with 8 bytes of data.
    const e = errorOf(() => tensorFromBinary('text', 'BYTES', [1_000_000, 1_000_000], Buffer.alloc(8)));
    expect(e.message).toContain('need at least 4000000000000 bytes');
  });
});

describe('prototype names as keys (item 8)', () => {
  it('`__proto__` and `constructor` as input names are unknown inputs, and no prototype changes', () => {
    for (const name of ['__proto__', 'constructor', 'toString']) {
      expect(errorOf(() => native(`{"inputs":{"${name}":[[1,2,3,4]],"input":[[1,2,3,4]]}}`)).message).toContain(`unknown input '${name}'`);
      expect(errorOf(() => v2(`{"inputs":[{"name":"${name}","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`)).message).toContain(`unknown input '${name}'`);
      expect(errorOf(() => native(`{"inputs":{"input":[[1,2,3,4]]},"outputs":["${name}"]}`)).message).toContain(`unknown output '${name}'`);
      expect(errorOf(() => v2(`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"${name}"}]}`)).message).toContain(`unknown output '${name}'`);
    }
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('input');
  });

  it('a model whose inputs are named like Object.prototype members: missing ones are missing, given ones given once', () => {
    const signature: ModelSignature = {
      inputs: [
        { name: 'constructor', datatype: 'FP32', shape: [-1, 2] },
        { name: 'toString', datatype: 'FP32', shape: [-1, 2] },
      ],
      outputs: [{ name: 'valueOf', datatype: 'FP32', shape: [-1, 2] }],
    };
    expect(errorOf(() => native('{"inputs":{}}', signature)).message).toBe('missing inputs constructor (FP32 [-1,2]), toString (FP32 [-1,2])');
    const both = v2(
      '{"inputs":[{"name":"constructor","shape":[1,2],"datatype":"FP32","data":[1,2]},{"name":"toString","shape":[1,2],"datatype":"FP32","data":[3,4]}]}',
      signature,
    );
    expect(Object.keys(both.inputs)).toEqual(['constructor', 'toString']);
    expect(Object.getPrototypeOf(both.inputs)).toBeNull();
  });

  it('V2 parameters named `__proto__` or `constructor` are ignored like any unknown parameter', () => {
    const request = v2('{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"parameters":{"__proto__":{"timeout":5},"constructor":{"binary_data_output":true}}}');
    expect({ timeout: request.timeoutMicros, binary: request.binaryOutputs.size }).toEqual({ timeout: undefined, binary: 0 });
    expect(({} as { timeout?: unknown }).timeout).toBeUndefined();
  });

  it('config.json keys `__proto__` and `constructor` are refused as unknown keys', () => {
    for (const key of ['__proto__', 'constructor']) {
      expect(() => parseModelConfig(JSON.parse(`{"max_batch_size": 2, "${key}": {"instances": 9}}`))).toThrow(`Unrecognized key: "${key}"`);
    }
    expect(({} as { instances?: unknown }).instances).toBeUndefined();
  });
});

describe('small lies (item 9)', () => {
  const multiIo = (mask: string, text = '["a","b"]') => `{"inputs":{"x":[[1,2,3,4]],"ids":[[1,2,3]],"mask":[${mask}],"text":[${text}]}}`;

  it('BOOL takes true and false, not 1 and 0', () => {
    expect(Array.from(native(multiIo('[true,false,true]'), MULTI_IO).inputs.mask!.data as Uint8Array)).toEqual([1, 0, 1]);
    const e = errorOf(() => native(multiIo('[1,0,1]'), MULTI_IO));
    expect(e.message).toBe("input 'mask': element at [0,0] is 1; BOOL expects booleans");
    expect(errorOf(() => tensorFromJson('mask', 'BOOL', { shape: [2], data: [0, true] })).message).toContain('element 0 is 0');
    // Binary BOOL: one byte, 0 or 1.
    expect(errorOf(() => tensorFromBinary('mask', 'BOOL', [1, 3], Buffer.from([1, 2, 0]))).message).toBe(
      "input 'mask': BOOL element 1 is the byte 2; BOOL binary data holds 0 or 1 per element",
    );
  });

  it('a lone surrogate in a BYTES string is refused; a surrogate pair is text like any other', () => {
    for (const text of ['"\\ud800"', '"a\\udc00"', '"\\udc00\\ud800"']) {
      const e = errorOf(() => native(multiIo('[true,false,true]', `[${text},"b"]`), MULTI_IO));
      expect(e.message).toContain("input 'text': element at [0,0] is ");
      expect(e.message).toContain('lone surrogates');
    }
    const pair = native(multiIo('[true,false,true]', '["\\ud83d\\ude00","b"]'), MULTI_IO);
    expect(pair.inputs.text!.data).toEqual(['😀', 'b']);
  });
});
