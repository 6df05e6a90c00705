/**
 * Every datatype onnxruntime-node takes, through Identity models over the Open Inference
 * Protocol: JSON and binary tensor data both round-trip, and agree bit for bit. Also the raw
 * binary mode, a tensor of 1M elements, and model metadata against the graphs the builder wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Datatype } from '../../src/tensor.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectV2Error } from '../support/http.js';
import { identityModel, identityModels, identityName, linearModel, mlpModel, MLP_SIZES, MULTI_IO_SIGNATURE, multiIoModel, noBatchModel } from '../support/models.js';
import { binaryRequest, bytesOf, json, parseInferResponse, send, serializeBytes } from './oip-wire.js';

/** IEEE half bits of a number exactly representable in half precision (test values only). */
function halfBits(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude === 0) return sign;
  const exponent = Math.floor(Math.log2(magnitude));
  if (exponent < -14) return sign | Math.round(magnitude / 2 ** -24); // subnormal
  const mantissa = (magnitude / 2 ** exponent - 1) * 1024;
  if (!Number.isInteger(mantissa)) throw new Error(`${value} is not exact in FP16`);
  return sign | ((exponent + 15) << 10) | mantissa;
}

interface Case {
  readonly datatype: Datatype;
  /** Six elements, sent as a [2,3] tensor. */
  readonly values: readonly unknown[];
  /** The same elements in the binary encoding. */
  readonly binary: Buffer;
  /** JSON output data -> the binary encoding, to compare the two paths bit for bit. */
  fromJson(data: readonly unknown[]): Buffer;
}

const ints = <T extends ArrayBufferView>(make: (values: number[]) => T) => (values: readonly unknown[]) => bytesOf(make(values as number[]));
const bigs = <T extends ArrayBufferView>(make: (values: bigint[]) => T) => (values: readonly unknown[]) =>
  bytesOf(make(values.map((v) => BigInt(v as number))));

const CASES: Case[] = [
  { datatype: 'BOOL', values: [true, false, true, true, false, false], binary: Buffer.from([1, 0, 1, 1, 0, 0]), fromJson: (d) => Buffer.from(d.map((v) => (v === true ? 1 : 0))) },
  { datatype: 'UINT8', values: [0, 255, 7, 128, 1, 254], binary: bytesOf(Uint8Array.from([0, 255, 7, 128, 1, 254])), fromJson: ints((v) => Uint8Array.from(v)) },
  { datatype: 'UINT16', values: [0, 65535, 300, 1, 32768, 2], binary: bytesOf(Uint16Array.from([0, 65535, 300, 1, 32768, 2])), fromJson: ints((v) => Uint16Array.from(v)) },
  { datatype: 'UINT32', values: [0, 4294967295, 70000, 1, 2147483648, 3], binary: bytesOf(Uint32Array.from([0, 4294967295, 70000, 1, 2147483648, 3])), fromJson: ints((v) => Uint32Array.from(v)) },
  {
    datatype: 'UINT64',
    values: [0, 9007199254740991, 42, 1, 4294967296, 7],
    binary: bytesOf(BigUint64Array.from([0n, 9007199254740991n, 42n, 1n, 4294967296n, 7n])),
    fromJson: bigs((v) => BigUint64Array.from(v)),
  },
  { datatype: 'INT8', values: [-128, 127, 0, -1, 1, 5], binary: bytesOf(Int8Array.from([-128, 127, 0, -1, 1, 5])), fromJson: ints((v) => Int8Array.from(v)) },
  { datatype: 'INT16', values: [-32768, 32767, -1, 0, 300, -300], binary: bytesOf(Int16Array.from([-32768, 32767, -1, 0, 300, -300])), fromJson: ints((v) => Int16Array.from(v)) },
  {
    datatype: 'INT32',
    values: [-2147483648, 2147483647, 1, 0, -1, 65536],
    binary: bytesOf(Int32Array.from([-2147483648, 2147483647, 1, 0, -1, 65536])),
    fromJson: ints((v) => Int32Array.from(v)),
  },
  {
    datatype: 'INT64',
    values: [-9007199254740991, 9007199254740991, -1, 0, 1, 4294967296],
    binary: bytesOf(BigInt64Array.from([-9007199254740991n, 9007199254740991n, -1n, 0n, 1n, 4294967296n])),
    fromJson: bigs((v) => BigInt64Array.from(v)),
  },
  {
    datatype: 'FP16',
    values: [1.5, -2, 65504, -0, 0.000060975551605224609375, 2 ** -24],
    binary: bytesOf(Uint16Array.from([0x3e00, 0xc000, 0x7bff, 0x8000, 0x03ff, 0x0001])),
    fromJson: (d) => bytesOf(Uint16Array.from(d as number[], halfBits)),
  },
  {
    datatype: 'FP32',
    values: [1.5, -0.1, 3.4028234663852886e38, -0, 1e-45, 7],
    binary: bytesOf(Float32Array.from([1.5, -0.1, 3.4028234663852886e38, -0, 1e-45, 7])),
    fromJson: (d) => bytesOf(Float32Array.from(d as number[])),
  },
  {
    datatype: 'FP64',
    values: [Math.PI, -0, 1e-300, -1.7976931348623157e308, 5e-324, 0.1],
    binary: bytesOf(Float64Array.from([Math.PI, -0, 1e-300, -1.7976931348623157e308, 5e-324, 0.1])),
    fromJson: (d) => bytesOf(Float64Array.from(d as number[])),
  },
  {
    datatype: 'BYTES',
    values: ['hello', '', 'ünïcødé ✓', 'a"b\\c', 'tab\there', '日本'],
    binary: serializeBytes(['hello', '', 'ünïcødé ✓', 'a"b\\c', 'tab\there', '日本']),
    fromJson: (d) => serializeBytes(d as string[]),
  },
];

const LARGE = 1 << 20;

let t: TestGateway;

beforeAll(async () => {
  const models = {
    ...identityModels(CASES.map((c) => c.datatype)),
    id_vector: { 1: identityModel('FP32', [-1]) },
    id_text: { 1: identityModel('BYTES', [-1]) },
    linear: { 1: linearModel() },
    multi_io: { 1: multiIoModel() },
    no_batch: { 1: noBatchModel() },
    mlp: { 1: mlpModel(MLP_SIZES.tiny) },
  };
  t = await startTestGateway({ models });
});
afterAll(() => t.close());

/** JSON.stringify writes -0 as 0; JSON itself has "-0", which is what a client sends for it. */
function toJson(body: unknown): string {
  return JSON.stringify(body, (_key, value) => (Object.is(value, -0) ? '__negative_zero__' : value)).replaceAll('"__negative_zero__"', '-0');
}

function inferJson(model: string, body: unknown) {
  return send(t.url, 'POST', `/v2/models/${model}/infer`, toJson(body), { 'Content-Type': 'application/json' });
}

describe.each(CASES)('$datatype', (testCase) => {
  const model = identityName(testCase.datatype);
  const input = { name: 'input', shape: [2, 3], datatype: testCase.datatype };

  it('round-trips as JSON (flat and nested data)', async () => {
    for (const data of [testCase.values, [testCase.values.slice(0, 3), testCase.values.slice(3)]]) {
      const response = await inferJson(model, { inputs: [{ ...input, data }] });
      expect(response.status).toBe(200);
      expect(response.headers['inference-header-content-length']).toBeUndefined();
      const body = json(response);
      expect(body).toMatchObject({ model_name: model, model_version: '1' });
      expect(body.outputs).toHaveLength(1);
      const [output] = body.outputs;
      expect({ name: output.name, datatype: output.datatype, shape: output.shape }).toEqual({ name: 'output', datatype: testCase.datatype, shape: [2, 3] });
      expect(output.data).toHaveLength(6);
      expect(testCase.fromJson(output.data).equals(testCase.binary)).toBe(true);
    }
  });

  it('round-trips as binary data, byte for byte', async () => {
    const { body, headers } = binaryRequest(
      { inputs: [{ ...input, parameters: { binary_data_size: testCase.binary.length } }], outputs: [{ name: 'output', parameters: { binary_data: true } }] },
      [testCase.binary],
    );
    const response = await send(t.url, 'POST', `/v2/models/${model}/infer`, body, headers);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/octet-stream');
    const parsed = parseInferResponse(response);
    expect(parsed.json.outputs[0]).toEqual({ name: 'output', datatype: testCase.datatype, shape: [2, 3], parameters: { binary_data_size: testCase.binary.length } });
    expect(parsed.binary.get('output')!.equals(testCase.binary)).toBe(true);
  });

  it('JSON and binary paths agree bit for bit, in every combination', async () => {
    const jsonIn = { inputs: [{ ...input, data: testCase.values }] };
    const binaryIn = binaryRequest({ inputs: [{ ...input, parameters: { binary_data_size: testCase.binary.length } }] }, [testCase.binary]);

    // JSON in, binary out (binary_data_output for every output).
    const a = parseInferResponse(await inferJson(model, { ...jsonIn, parameters: { binary_data_output: true } }));
    // Binary in, JSON out (no output asks for binary data).
    const b = parseInferResponse(await send(t.url, 'POST', `/v2/models/${model}/infer`, binaryIn.body, binaryIn.headers));
    // JSON in, JSON out.
    const c = parseInferResponse(await inferJson(model, jsonIn));
    expect(a.binary.get('output')).toBeDefined();
    expect(b.binary.size).toBe(0);
    const fromBinary = a.binary.get('output')!;
    expect(testCase.fromJson(b.json.outputs[0].data).equals(fromBinary)).toBe(true);
    expect(testCase.fromJson(c.json.outputs[0].data).equals(fromBinary)).toBe(true);
    expect(b.json.outputs[0].data).toEqual(c.json.outputs[0].data);
  });
});

describe('64-bit integers beyond 2^53 (binary in, exact JSON numbers out)', () => {
  it('keeps every digit of UINT64 and INT64 extremes', async () => {
    for (const [datatype, array, digits] of [
      ['UINT64', BigUint64Array.from([18446744073709551615n, 9223372036854775808n, 0n]), ['18446744073709551615', '9223372036854775808', '0']],
      ['INT64', BigInt64Array.from([-9223372036854775808n, 9223372036854775807n, 9007199254740993n]), ['-9223372036854775808', '9223372036854775807', '9007199254740993']],
    ] as const) {
      const bytes = bytesOf(array);
      const model = identityName(datatype);
      const request = binaryRequest({ inputs: [{ name: 'input', shape: [1, 3], datatype, parameters: { binary_data_size: bytes.length } }] }, [bytes]);
      const response = await send(t.url, 'POST', `/v2/models/${model}/infer`, request.body, request.headers);
      expect(response.status).toBe(200);
      // JSON numbers may carry any number of digits; a JS JSON.parse would round them, so read the text.
      expect(response.body.toString()).toContain(`"data":[${digits.join(',')}]`);
    }
  });
});

describe('raw binary request (Inference-Header-Content-Length: 0)', () => {
  it('takes the body as the only input, deduces its shape, and answers every output as binary data', async () => {
    const data = Float32Array.from([1.25, -2.5, 1e6]);
    const response = await send(t.url, 'POST', '/v2/models/id_fp32/infer', bytesOf(data), {
      'Inference-Header-Content-Length': '0',
      'Content-Type': 'application/octet-stream',
    });
    expect(response.status).toBe(200);
    const parsed = parseInferResponse(response);
    expect(parsed.json.outputs).toEqual([{ name: 'output', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } }]);
    expect(parsed.binary.get('output')!.equals(bytesOf(data))).toBe(true);
  });

  it('takes the whole body as the one element of a BYTES input', async () => {
    const text = Buffer.from('héllo, raw world', 'utf8');
    const response = await send(t.url, 'POST', '/v2/models/id_text/infer', text, { 'Inference-Header-Content-Length': '0' });
    expect(response.status).toBe(200);
    const parsed = parseInferResponse(response);
    expect(parsed.json.outputs[0]).toMatchObject({ name: 'output', datatype: 'BYTES', shape: [1] });
    expect(parsed.binary.get('output')!.equals(serializeBytes([text]))).toBe(true);
  });

  it('refuses models with several inputs and sizes that are no whole number of elements', async () => {
    await expectV2Error(send(t.url, 'POST', '/v2/models/multi_io/infer', Buffer.alloc(16), { 'Inference-Header-Content-Length': '0' }), 400, /1 input/);
    await expectV2Error(send(t.url, 'POST', '/v2/models/id_fp32/infer', Buffer.alloc(10), { 'Inference-Header-Content-Length': '0' }), 400);
  });
});

describe('a large tensor through the binary path', () => {
  it(`carries ${LARGE} FP32 elements each way unchanged`, async () => {
    const data = new Float32Array(LARGE);
    for (let i = 0; i < LARGE; i++) data[i] = (i % 1000) * 0.5 - 250;
    const bytes = bytesOf(data);
    const request = binaryRequest(
      { inputs: [{ name: 'input', shape: [LARGE], datatype: 'FP32', parameters: { binary_data_size: bytes.length } }], parameters: { binary_data_output: true } },
      [bytes],
    );
    const response = await send(t.url, 'POST', '/v2/models/id_vector/infer', request.body, request.headers);
    expect(response.status).toBe(200);
    const parsed = parseInferResponse(response);
    expect(parsed.json.outputs[0]).toEqual({ name: 'output', datatype: 'FP32', shape: [LARGE], parameters: { binary_data_size: 4 * LARGE } });
    expect(parsed.binary.get('output')!.equals(bytes)).toBe(true);
  });
});

describe('model metadata matches the ONNX graph of each model', () => {
  const expected: Record<string, { inputs: unknown[]; outputs: unknown[] }> = {
    linear: { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }], outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }] },
    multi_io: MULTI_IO_SIGNATURE,
    no_batch: { inputs: [{ name: 'x', datatype: 'FP32', shape: [3] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [3] }] },
    mlp: { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 8] }], outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 3] }] },
    id_vector: { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1] }], outputs: [{ name: 'output', datatype: 'FP32', shape: [-1] }] },
  };
  for (const { datatype } of CASES) {
    expected[identityName(datatype)] = {
      inputs: [{ name: 'input', datatype, shape: [-1, 3] }],
      outputs: [{ name: 'output', datatype, shape: [-1, 3] }],
    };
  }

  it.each(Object.keys(expected))('%s', async (model) => {
    for (const path of [`/v2/models/${model}`, `/v2/models/${model}/versions/1`]) {
      const response = await send(t.url, 'GET', path);
      expect(response.status).toBe(200);
      expect(json(response)).toEqual({ name: model, versions: ['1'], platform: 'onnxruntime_onnx', ...expected[model] });
    }
  });
});
