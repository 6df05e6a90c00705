import { describe, expect, it } from 'vitest';
import { thrownBy } from '../support/errors.js';
import { fromHalfBits, toHalfBits } from '../../src/protocol/float16.js';
import { fromHalfBits as halfToNumber } from '../../src/protocol/float16.js';
import { tensorFromJson, tensorToJsonText } from '../../src/protocol/tensor-json.js';
import { elementCount } from '../../src/tensor.js';
import type { Tensor } from '../../src/tensor.js';
import { validateInputs } from '../../src/protocol/validate-inputs.js';
import type { ModelSignature } from '../../src/tensor.js';

/** The reference the fast writer is held to: plain JS values per element, as JSON.stringify would see them. */
function elementValue(tensor: Tensor, i: number): unknown {
  const data = tensor.data as ArrayLike<unknown>;
  switch (tensor.datatype) {
    case 'BOOL':
      return (data[i] as number) !== 0;
    case 'FP16':
      return halfToNumber(data[i] as number);
    case 'INT64':
    case 'UINT64': {
      const v = data[i] as bigint;
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
    }
    default:
      return data[i];
  }
}

function tensorToFlatJson(tensor: Tensor): unknown[] {
  return Array.from({ length: elementCount(tensor.shape) }, (_, i) => elementValue(tensor, i));
}

function tensorToNestedJson(tensor: Tensor): unknown {
  const flat = tensorToFlatJson(tensor);
  if (tensor.shape.length === 0) return flat[0];
  let index = 0;
  const build = (depth: number): unknown[] =>
    Array.from({ length: tensor.shape[depth]! }, () => (depth === tensor.shape.length - 1 ? flat[index++] : build(depth + 1)));
  return build(0);
}

describe('tensorFromJson', () => {
  it('infers the shape of nested arrays and flattens row-major', () => {
    const t = tensorFromJson('x', 'FP32', [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('accepts {shape, data} with flat data', () => {
    const t = tensorFromJson('x', 'INT32', { shape: [2, 2], data: [1, 2, 3, 4] });
    expect(t.shape).toEqual([2, 2]);
    expect(t.data).toBeInstanceOf(Int32Array);
  });

  it('rejects an element count that does not match the shape', () => {
    const e = thrownBy(() => tensorFromJson('x', 'FP32', { shape: [2, 2], data: [1, 2, 3] }));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toContain('needs 4 elements, got 3');
  });

  it('rejects ragged arrays naming where', () => {
    const e = thrownBy(() => tensorFromJson('x', 'FP32', [[1, 2], [3]]));
    expect(e.message).toContain('ragged');
    expect(e.message).toContain('[1]');
  });

  it('rejects elements of the wrong type naming the position and datatype', () => {
    const e = thrownBy(() => tensorFromJson('x', 'FP32', [[1, 'two']]));
    expect(e.status).toBe(400);
    expect(e.message).toContain('[0,1]');
    expect(e.message).toContain('FP32 expects numbers');
    expect(thrownBy(() => tensorFromJson('b', 'BOOL', [2])).message).toContain('BOOL expects booleans');
    expect(thrownBy(() => tensorFromJson('i', 'INT8', [200])).message).toContain('INT8 range');
    expect(thrownBy(() => tensorFromJson('i', 'INT32', [1.5])).code).toBe('INVALID_INPUT');
    expect(thrownBy(() => tensorFromJson('s', 'BYTES', [1])).message).toContain('BYTES expects strings');
  });

  it('keeps INT64 beyond 2^53 exact through strings', () => {
    const t = tensorFromJson('ids', 'INT64', [['9007199254740993', -5]]);
    expect((t.data as BigInt64Array)[0]).toBe(9007199254740993n);
    expect(tensorToNestedJson(t)).toEqual([['9007199254740993', -5]]);
  });

  it('round-trips BOOL, BYTES and FP16', () => {
    expect(tensorToNestedJson(tensorFromJson('b', 'BOOL', [true, false]))).toEqual([true, false]);
    expect(tensorToFlatJson(tensorFromJson('s', 'BYTES', [['a', 'é']]))).toEqual(['a', 'é']);
    expect(tensorToNestedJson(tensorFromJson('h', 'FP16', [0.5, -2, 65504]))).toEqual([0.5, -2, 65504]);
  });
});

describe('tensorToJsonText', () => {
  const cases: Tensor[] = [
    { datatype: 'FP32', shape: [2, 3], data: new Float32Array([0.1, -2.5, 3e-8, 1e20, -0, 7]) },
    { datatype: 'FP32', shape: [3], data: new Float32Array([1, Number.NaN, Number.NEGATIVE_INFINITY]) },
    { datatype: 'FP64', shape: [1, 2], data: new Float64Array([Math.PI, -1e-300]) },
    { datatype: 'INT32', shape: [2, 2], data: new Int32Array([1, -2, 2147483647, -2147483648]) },
    { datatype: 'UINT8', shape: [2, 1, 2], data: new Uint8Array([0, 1, 254, 255]) },
    { datatype: 'INT64', shape: [2], data: new BigInt64Array([9007199254740993n, -5n]) },
    { datatype: 'UINT64', shape: [1], data: new BigUint64Array([18446744073709551615n]) },
    { datatype: 'BOOL', shape: [1, 2], data: new Uint8Array([1, 0]) },
    { datatype: 'BYTES', shape: [1, 2], data: ['a"quote', 'é\n'] },
    { datatype: 'FP16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    { datatype: 'FP32', shape: [], data: new Float32Array([4.5]) },
    { datatype: 'FP32', shape: [0, 3], data: new Float32Array(0) },
  ];
  it('writes exactly what JSON.stringify writes of the nested and flat arrays', () => {
    for (const tensor of cases) {
      expect(tensorToJsonText(tensor), tensor.datatype).toBe(JSON.stringify(tensorToNestedJson(tensor)));
      expect(tensorToJsonText(tensor, true), tensor.datatype).toBe(JSON.stringify(tensorToFlatJson(tensor)));
    }
  });
});

describe('float16', () => {
  it('converts exactly representable values both ways and rounds to nearest', () => {
    for (const v of [0, 1, -1, 0.5, 2 ** -14, 2 ** -24, 65504, 1.5, -0.25]) expect(fromHalfBits(toHalfBits(v))).toBe(v);
    expect(fromHalfBits(toHalfBits(1 + 2 ** -11))).toBe(1); // ties to even
    expect(fromHalfBits(toHalfBits(70000))).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN)))).toBe(true);
  });
});

describe('validateInputs', () => {
  const signature: ModelSignature = {
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }],
  };
  const ok = tensorFromJson('input', 'FP32', [[1, 2, 3, 4]]);

  it('accepts a matching tensor with any batch size', () => {
    expect(() => validateInputs(signature, { input: ok })).not.toThrow();
  });

  it('names the wrong input, the wrong rank, the wrong fixed dim, the missing input', () => {
    expect(thrownBy(() => validateInputs(signature, { input: ok, extra: ok })).message).toContain("unknown input 'extra'");
    expect(thrownBy(() => validateInputs(signature, { input: tensorFromJson('input', 'FP32', [1, 2, 3, 4]) })).message).toContain(
      'rank 2',
    );
    expect(thrownBy(() => validateInputs(signature, { input: tensorFromJson('input', 'FP32', [[1, 2, 3]]) })).message).toContain(
      'dimension 1 must be 4',
    );
    expect(thrownBy(() => validateInputs(signature, {})).message).toContain('missing input input (FP32 [-1,4])');
    expect(
      thrownBy(() => validateInputs(signature, { input: tensorFromJson('input', 'INT32', [[1, 2, 3, 4]]) })).message,
    ).toContain('datatype INT32; the model expects FP32');
  });
});

describe('tensorFromJson guards', () => {
  it('refuses a declared shape larger than its data before allocating it', () => {
    const e = thrownBy(() => tensorFromJson('x', 'FP32', { shape: [10_000_000_000], data: [1] }));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toContain('needs 10000000000 elements, got 1');
  });

  it('refuses BYTES elements with a NUL (onnxruntime-node would cut them short)', () => {
    const e = thrownBy(() => tensorFromJson('s', 'BYTES', ['ok', 'a\u0000b']));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toContain('without NUL');
  });
});

describe('tensorFromJson float fast path', () => {
  it('gives the same tensor as the general walk, and the general walk still names problems', () => {
    const nested = [
      [
        [1.5, -2],
        [3, 4e-7],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ];
    const fast = tensorFromJson('x', 'FP64', nested);
    expect(fast.shape).toEqual([2, 2, 2]);
    expect(Array.from(fast.data as Float64Array)).toEqual([1.5, -2, 3, 4e-7, 5, 6, 7, 8]);
    expect(thrownBy(() => tensorFromJson('x', 'FP32', [[1, 2], [3, true]])).message).toContain('element at [1,1] is true');
    expect(thrownBy(() => tensorFromJson('x', 'FP32', [[1, 2], 3])).message).toContain('ragged nested array at [1]');
    expect(tensorFromJson('x', 'FP32', []).shape).toEqual([0]);
  });
});
