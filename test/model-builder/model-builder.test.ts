/**
 * The model builder is judged by onnxruntime itself: every generated model is loaded in a real
 * session, its declared signature read back, and its outputs compared with a JS computation.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromOrtTensor, ORT_TYPE_OF, toOrtTensor } from '../../src/runtime/ort-tensors.js';
import { DATATYPES, type Datatype } from '../../src/tensor.js';
import { buildDemoModels, DEMO_ROUTES, demoModels } from '../../tools/build-demo-models.js';
import {
  buildIdentityModel,
  buildLinearModel,
  buildMlpModel,
  buildMultiIoModel,
  buildNoBatchModel,
  GraphBuilder,
  linearModelWeights,
  mlpModelWeights,
  writeModelFile,
} from '../../tools/model-builder/index.js';
import { linearOutput, mlpAnswer } from '../support/models.js';
import { tempDir } from '../support/temp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));


const sessions: ort.InferenceSession[] = [];

async function load(source: Uint8Array | string): Promise<ort.InferenceSession> {
  const session = typeof source === 'string' ? await ort.InferenceSession.create(source) : await ort.InferenceSession.create(source);
  sessions.push(session);
  return session;
}

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.release()));
});

function signatureOf(metadata: readonly ort.InferenceSession.ValueMetadata[]): Array<{ name: string; type: string; shape: Array<number | string> }> {
  return metadata.map((value) => {
    if (!value.isTensor) throw new Error(`${value.name} is not a tensor`);
    return { name: value.name, type: value.type, shape: [...value.shape] };
  });
}

function float32(values: readonly number[], dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(values), dims);
}

describe('buildLinearModel', () => {
  it('declares input [batch, inputSize] and output [batch, outputSize] in FP32', async () => {
    const session = await load(buildLinearModel({ inputSize: 5, outputSize: 3 }));
    expect(signatureOf(session.inputMetadata)).toEqual([{ name: 'input', type: 'float32', shape: ['batch', 5] }]);
    expect(signatureOf(session.outputMetadata)).toEqual([{ name: 'output', type: 'float32', shape: ['batch', 3] }]);
  });

  it('computes input · W + b with the weights linearModelWeights reports', async () => {
    const options = { inputSize: 5, outputSize: 3, scale: 1.5, bias: 0.25, seed: 7 };
    const session = await load(buildLinearModel(options));
    expect(Array.from(linearModelWeights(options).bias)).toEqual([0.25, 0.25, 0.25]);
    const x = Float32Array.from({ length: 4 * 5 }, (_, i) => (i % 7) - 3);
    const { output } = await session.run({ input: new ort.Tensor('float32', x, [4, 5]) });
    expect(output!.dims).toEqual([4, 3]);
    const expected = linearOutput(options, x);
    const actual = Array.from(output!.data as Float32Array);
    actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 5));
  });

  it('makes scale 2 answer exactly twice what scale 1 answers, and not all zeros', async () => {
    const v1 = await load(buildLinearModel({ inputSize: 4, outputSize: 2 }));
    const v2 = await load(buildLinearModel({ inputSize: 4, outputSize: 2, scale: 2 }));
    const feeds = { input: float32([1, 2, 3, 4], [1, 4]) };
    const out1 = Array.from((await v1.run(feeds)).output!.data as Float32Array);
    const out2 = Array.from((await v2.run(feeds)).output!.data as Float32Array);
    expect(out1.some((value) => value !== 0)).toBe(true);
    expect(out2).toEqual(out1.map((value) => value * 2));
  });

  it('is deterministic per seed and differs across seeds', () => {
    const a = buildLinearModel({ inputSize: 4, outputSize: 2, seed: 3 });
    expect(buildLinearModel({ inputSize: 4, outputSize: 2, seed: 3 })).toEqual(a);
    expect(buildLinearModel({ inputSize: 4, outputSize: 2, seed: 4 })).not.toEqual(a);
  });
});

describe('buildMlpModel', () => {
  const sizes = [8, 16, 4];

  it('declares input [batch, 8] and output [batch, 4]', async () => {
    const session = await load(buildMlpModel({ sizes }));
    expect(signatureOf(session.inputMetadata)).toEqual([{ name: 'input', type: 'float32', shape: ['batch', 8] }]);
    expect(signatureOf(session.outputMetadata)).toEqual([{ name: 'output', type: 'float32', shape: ['batch', 4] }]);
  });

  it('matches a JS forward pass (Relu between layers, none after the last) within 1e-5 relative', async () => {
    const session = await load(buildMlpModel({ sizes, seed: 11 }));
    const layers = mlpModelWeights({ sizes, seed: 11 });
    expect(layers.map((layer) => [layer.fanIn, layer.fanOut])).toEqual([[8, 16], [16, 4]]);
    const rows = 6;
    const x = Float32Array.from({ length: rows * 8 }, (_, i) => Math.sin(i * 0.7) * 2);
    const expected = mlpAnswer(sizes, 11, Array.from({ length: rows }, (_, r) => Array.from(x.subarray(r * 8, (r + 1) * 8)))).flat();
    // Negative outputs prove the last layer has no Relu.
    expect(Array.from(expected).some((value) => value < 0)).toBe(true);
    const { output } = await session.run({ input: new ort.Tensor('float32', x, [rows, 8]) });
    expect(output!.dims).toEqual([rows, 4]);
    const actual = output!.data as Float32Array;
    for (let i = 0; i < expected.length; i++) {
      expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expected[i]!)));
    }
  });

  it('keeps weights within ±1/sqrt(fan_in)', () => {
    for (const layer of mlpModelWeights({ sizes: [64, 32, 8] })) {
      const limit = 1 / Math.sqrt(layer.fanIn);
      for (const value of [...layer.weight, ...layer.bias]) expect(Math.abs(value)).toBeLessThanOrEqual(limit);
    }
  });

  it('rejects fewer than two sizes', () => {
    expect(() => buildMlpModel({ sizes: [8] })).toThrow(RangeError);
  });
});

describe('buildMultiIoModel', () => {
  it('declares four inputs and four outputs of mixed datatypes', async () => {
    const session = await load(buildMultiIoModel());
    expect(signatureOf(session.inputMetadata)).toEqual([
      { name: 'x', type: 'float32', shape: ['batch', 4] },
      { name: 'ids', type: 'int64', shape: ['batch', 3] },
      { name: 'mask', type: 'bool', shape: ['batch', 3] },
      { name: 'text', type: 'string', shape: ['batch', 2] },
    ]);
    expect(signatureOf(session.outputMetadata)).toEqual([
      { name: 'sum', type: 'float32', shape: ['batch', 1] },
      { name: 'ids_plus_one', type: 'int64', shape: ['batch', 3] },
      { name: 'mask_not', type: 'bool', shape: ['batch', 3] },
      { name: 'text_copy', type: 'string', shape: ['batch', 2] },
    ]);
  });

  it('computes every output', async () => {
    const session = await load(buildMultiIoModel());
    const out = await session.run({
      x: float32([1, 2, 3, 4, -1, -2, 0.5, 10], [2, 4]),
      ids: new ort.Tensor('int64', new BigInt64Array([1n, -1n, 9007199254740993n, 0n, 41n, -9n]), [2, 3]),
      mask: new ort.Tensor('bool', new Uint8Array([1, 0, 1, 0, 0, 1]), [2, 3]),
      text: new ort.Tensor('string', ['héllo', '', 'a b', 'z'], [2, 2]),
    });
    expect(out.sum!.dims).toEqual([2, 1]);
    expect(Array.from(out.sum!.data as Float32Array)).toEqual([10, 7.5]);
    expect(out.ids_plus_one!.dims).toEqual([2, 3]);
    expect(Array.from(out.ids_plus_one!.data as BigInt64Array)).toEqual([2n, 0n, 9007199254740994n, 1n, 42n, -8n]);
    expect(Array.from(out.mask_not!.data as Uint8Array)).toEqual([0, 1, 0, 1, 1, 0]);
    expect(out.text_copy!.data).toEqual(['héllo', '', 'a b', 'z']);
  });
});

describe('buildNoBatchModel', () => {
  it('declares x [3] -> y [3] and doubles x', async () => {
    const session = await load(buildNoBatchModel());
    expect(signatureOf(session.inputMetadata)).toEqual([{ name: 'x', type: 'float32', shape: [3] }]);
    expect(signatureOf(session.outputMetadata)).toEqual([{ name: 'y', type: 'float32', shape: [3] }]);
    const { y } = await session.run({ x: float32([1, -2.5, 3], [3]) });
    expect(y!.dims).toEqual([3]);
    expect(Array.from(y!.data as Float32Array)).toEqual([2, -5, 6]);
  });
});

describe('buildIdentityModel', () => {
  // Extremes of each type catch sign, width and byte-order mistakes.
  const samples: Record<Datatype, ort.Tensor.DataType> = {
    BOOL: new Uint8Array([1, 0, 1, 1, 0, 0]),
    UINT8: new Uint8Array([0, 1, 127, 128, 254, 255]),
    UINT16: new Uint16Array([0, 1, 256, 32768, 65534, 65535]),
    UINT32: new Uint32Array([0, 1, 65536, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]),
    UINT64: new BigUint64Array([0n, 1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n]),
    INT8: new Int8Array([-128, -1, 0, 1, 100, 127]),
    INT16: new Int16Array([-32768, -1, 0, 1, 300, 32767]),
    INT32: new Int32Array([-(2 ** 31), -1, 0, 1, 70000, 2 ** 31 - 1]),
    INT64: new BigInt64Array([-(2n ** 63n), -1n, 0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
    // Raw half bits: 1.0, -2.0, max finite, smallest subnormal, +Inf, -0.
    FP16: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000]),
    FP32: new Float32Array([-3.4e38, -1.5, 0, 1e-40, 0.1, Infinity]),
    FP64: new Float64Array([-1.7e308, -1.5, 0, 5e-324, 0.1, Number.MAX_SAFE_INTEGER]),
    BYTES: ['', 'a', 'héllo', 'x'.repeat(300), '😀', 'tab\tand\nnewline'],
  };

  it.each(DATATYPES.map((datatype) => [datatype]))('round-trips %s through a real session', async (datatype) => {
    const session = await load(buildIdentityModel(datatype, [-1, 3]));
    const type = ORT_TYPE_OF[datatype];
    expect(signatureOf(session.inputMetadata)).toEqual([{ name: 'input', type, shape: ['batch', 3] }]);
    expect(signatureOf(session.outputMetadata)).toEqual([{ name: 'output', type, shape: ['batch', 3] }]);
    const data = samples[datatype];
    // Through the runtime's own wrapping, which keeps FP16 as raw half bits on every Node line.
    const input = toOrtTensor('input', { datatype, shape: [2, 3], data: data as never });
    const { output } = await session.run({ input });
    expect(output!.type).toBe(type);
    const result = fromOrtTensor('output', output!);
    expect(result.shape).toEqual([2, 3]);
    expect(result.data.constructor).toBe(data.constructor);
    expect(Array.from(result.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
  });

  it('writes fixed dims, named dims and -1 beyond the first axis as declared', async () => {
    const session = await load(buildIdentityModel('FP32', ['n', 2, -1]));
    expect(signatureOf(session.inputMetadata)).toEqual([{ name: 'input', type: 'float32', shape: ['n', 2, 'dim_2'] }]);
    const fixed = await load(buildIdentityModel('INT32', [2, 3]));
    expect(signatureOf(fixed.outputMetadata)).toEqual([{ name: 'output', type: 'int32', shape: [2, 3] }]);
  });
});

describe('GraphBuilder', () => {
  it('writes non-FP32 initializers little-endian and string initializers as string_data', async () => {
    const bytes = new GraphBuilder()
      .input('a', 'INT32', [2])
      .output('a_plus', 'INT32', [2])
      .output('k16', 'INT16', [2])
      .output('k64', 'FP64', [2])
      .output('ku64', 'UINT64', [1])
      .output('suffix_copy', 'BYTES', [2])
      .initializer('k', 'INT32', [2], new Int32Array([-300, 70_001]))
      .initializer('i16', 'INT16', [2], new Int16Array([-300, 513]))
      .initializer('f64', 'FP64', [2], new Float64Array([0.1, -1e300]))
      .initializer('u64', 'UINT64', [1], new BigUint64Array([2n ** 64n - 3n]))
      .initializer('suffix', 'BYTES', [2], ['-x', '-é'])
      .node('Add', ['a', 'k'], ['a_plus'])
      .node('Identity', ['i16'], ['k16'])
      .node('Identity', ['f64'], ['k64'])
      .node('Identity', ['u64'], ['ku64'])
      .node('Identity', ['suffix'], ['suffix_copy'])
      .build();
    const session = await load(bytes);
    const out = await session.run({ a: new ort.Tensor('int32', new Int32Array([1, 2]), [2]) });
    expect(Array.from(out.a_plus!.data as Int32Array)).toEqual([-299, 70_003]);
    expect(Array.from(out.k16!.data as Int16Array)).toEqual([-300, 513]);
    expect(Array.from(out.k64!.data as Float64Array)).toEqual([0.1, -1e300]);
    expect(Array.from(out.ku64!.data as BigUint64Array)).toEqual([2n ** 64n - 3n]);
    expect(out.suffix_copy!.data).toEqual(['-x', '-é']);
  });

  it('rejects an initializer whose element count does not match its dims', () => {
    expect(() => new GraphBuilder().initializer('w', 'FP32', [2, 2], new Float32Array(3))).toThrow(RangeError);
  });

  it('produces bytes onnxruntime rejects when the graph is wrong (the tests can fail)', async () => {
    const broken = new GraphBuilder().input('x', 'FP32', [2]).output('y', 'FP32', [2]).node('NoSuchOp', ['x'], ['y']).build();
    await expect(ort.InferenceSession.create(broken)).rejects.toThrow();
  });
});

describe('writeModelFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = (await tempDir('model-builder')).path;
  });

  it('creates parent folders, replaces an existing file and leaves no temp file behind', async () => {
    const path = join(dir, 'm', '3', 'model.onnx');
    await writeModelFile(path, buildNoBatchModel());
    await writeModelFile(path, buildLinearModel({ inputSize: 2, outputSize: 1 }));
    expect(await readdir(join(dir, 'm', '3'))).toEqual(['model.onnx']);
    const session = await load(path);
    expect(session.inputNames).toEqual(['input']);
  });

  it('rejects when the parent path is a file and leaves nothing behind', async () => {
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'not a folder');
    await expect(writeModelFile(join(blocker, '1', 'model.onnx'), buildNoBatchModel())).rejects.toThrow();
    expect(await readFile(blocker, 'utf8')).toBe('not a folder');
  });
});

describe('demo repository', () => {
  it('has committed files identical to what build-demo-models generates', async () => {
    for (const [relative, bytes] of Object.entries(demoModels())) {
      const committed = new Uint8Array(await readFile(join(ROOT, 'model-repo', relative)));
      expect(committed, relative).toEqual(bytes);
    }
    expect(JSON.parse(await readFile(join(ROOT, 'config', 'routes.json'), 'utf8'))).toEqual(DEMO_ROUTES);
    expect(DEMO_ROUTES).toEqual({ linear: { default: 'stable', stable: '1', canary: '2' } });
  });

  it('loads every committed model, and linear v2 answers differently from v1', async () => {
    const models = Object.keys(demoModels());
    expect(models.sort()).toEqual(['linear/1/model.onnx', 'linear/2/model.onnx', 'multi_io/1/model.onnx', 'no_batch/1/model.onnx']);
    const loaded = await Promise.all(models.map((relative) => load(join(ROOT, 'model-repo', relative))));
    expect(loaded.map((session) => session.inputNames)).toEqual([['input'], ['input'], ['x', 'ids', 'mask', 'text'], ['x']]);
    const feeds = { input: float32([1, 2, 3, 4], [1, 4]) };
    const v1 = Array.from((await loaded[0]!.run(feeds)).output!.data as Float32Array);
    const v2 = Array.from((await loaded[1]!.run(feeds)).output!.data as Float32Array);
    expect(v2).not.toEqual(v1);
    expect(v2).toEqual(v1.map((value) => value * 2));
  });

  it('writes the same set into another folder', async () => {
    const dir = await tempDir('demo');
    const written = await buildDemoModels(dir.join('repo'), dir.join('config', 'routes.json'));
    expect(written).toHaveLength(5);
    expect((await readdir(dir.join('repo'))).sort()).toEqual(['linear', 'multi_io', 'no_batch']);
  });
});
