/** The conversions at the onnxruntime boundary that the model-driven tests cannot reach. */
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors.js';
import { resolveSessionOptions, toOrtSessionOptions } from '../../src/runtime/ort-session-options.js';
import { datatypeOfOrtType, fromOrtTensor, tensorInfoOf, toOrtTensor } from '../../src/runtime/ort-tensors.js';
import { DATATYPES, TYPED_ARRAY_OF, type TensorData } from '../../src/tensor.js';

type OrtTensorLike = Parameters<typeof fromOrtTensor>[1];
type MetadataLike = Parameters<typeof tensorInfoOf>[0];

describe('ort-tensors', () => {
  it('maps every gateway datatype to an onnxruntime type and back', () => {
    for (const datatype of DATATYPES) {
      const data: TensorData = datatype === 'BYTES' ? ['a'] : (new TYPED_ARRAY_OF[datatype](1) as TensorData);
      const tensor = toOrtTensor('x', { datatype, shape: [1], data });
      expect(datatypeOfOrtType(tensor.type)).toBe(datatype);
      expect(tensor.data).toBe(data);
    }
  });

  it('names the element type it cannot carry', () => {
    expect(() => datatypeOfOrtType('int4', "output 'y'")).toThrow(/output 'y' has onnxruntime element type 'int4'/);
    expect(() => fromOrtTensor('y', { type: 'uint4', dims: [2], data: new Uint8Array(1) } as unknown as OrtTensorLike)).toThrow(/uint4/);
  });

  it('turns a half-precision array other than Uint16Array into raw bits without copying', () => {
    // Where Float16Array exists onnxruntime returns one; any 2-byte array stands in for it here.
    const halves = new Int16Array([0x3c00, -0x4000]);
    const tensor = fromOrtTensor('h', { type: 'float16', dims: [2], data: halves } as unknown as OrtTensorLike);
    expect(tensor.datatype).toBe('FP16');
    expect(tensor.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(tensor.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect((tensor.data as Uint16Array).buffer).toBe(halves.buffer);
  });

  it('marks symbolic and unknown dims -1 and refuses non-tensor values', () => {
    const info = tensorInfoOf({ name: 'x', isTensor: true, type: 'int64', shape: ['batch', 3, ''] } as MetadataLike);
    expect(info).toEqual({ name: 'x', datatype: 'INT64', shape: [-1, 3, -1] });
    expect(() => tensorInfoOf({ name: 'seq', isTensor: false } as MetadataLike)).toThrow(/'seq' is not a tensor/);
  });

  it('refuses data of the wrong array type with the expected one named', () => {
    expect(() => toOrtTensor('x', { datatype: 'INT64', shape: [1], data: new Int32Array(1) })).toThrow(/'x' is INT64 .*BigInt64Array/);
    expect(() => toOrtTensor('s', { datatype: 'BYTES', shape: [1], data: new Uint8Array(1) })).toThrow(/string array/);
  });
});

describe('ort-session-options', () => {
  it('defaults to one thread each, full optimisation, sequential execution and no spinning', () => {
    expect(toOrtSessionOptions(resolveSessionOptions())).toEqual({
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    expect(toOrtSessionOptions(resolveSessionOptions({ intraOpThreads: 4, graphOptimizationLevel: 'basic' }))).toMatchObject({
      intraOpNumThreads: 4,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'basic',
    });
  });

  it('refuses bad values with ModelLoadError naming the option', () => {
    expect(() => resolveSessionOptions({ interOpThreads: 1.5 })).toThrow(ModelLoadError);
    expect(() => resolveSessionOptions({ intraOpThreads: -2 })).toThrow(/intraOpThreads/);
    expect(() => resolveSessionOptions({ graphOptimizationLevel: 'layout' as 'all' })).toThrow(/graphOptimizationLevel/);
  });
});
