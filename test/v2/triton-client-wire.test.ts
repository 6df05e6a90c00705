/**
 * Triton's Python HTTP client (tritonclient.http) is not installable here (no PyPI) and no npm
 * package speaks KServe V2 over HTTP, so this file replays, byte for byte, the requests that
 * library sends when used as its documentation says, and reads the answers the way its
 * InferResult does. The wire format is taken from the library's source: _utils.py
 * (_get_inference_request: key order, binary_data_output when no outputs are named, the JSON's
 * length in Inference-Header-Content-Length), _infer_input.py (set_data_from_numpy: binary by
 * default, binary_data_size; BYTES via serialize_byte_tensor), _requested_output.py (binary_data
 * true by default), _client.py (paths, no Content-Type, repository and statistics calls) and
 * _infer_result.py (header length, then binary outputs in JSON order). rapidjson.dumps writes no
 * spaces and floats with a fractional part ("1.0").
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIdentityModel, buildLinearModel, buildMultiIoModel } from '../../tools/model-builder/index.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { bytesOf, send, type WireResponse } from './oip-wire.js';

let t: TestGateway;
/** The repository extension needs the admin token (tritonclient sends it through `headers=`). */
const ADMIN_TOKEN = 'v2-test-admin-token';
const ADMIN = { Authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  t = await startTestGateway({
    env: { ADMIN_TOKEN },
    models: {
      linear: { 1: buildLinearModel({ inputSize: 4, outputSize: 2, scale: 1 }) },
      multi_io: { 1: buildMultiIoModel() },
      half: { 1: buildIdentityModel('FP16', [-1, 3]) },
    },
  });
});
afterAll(() => t.close());

/** geventhttpclient's own headers; tritonclient adds none but Inference-Header-Content-Length. */
const CLIENT_HEADERS = { 'User-Agent': 'python/gevent-http-client-2.0.11' };

function tritonPost(path: string, body: Buffer | string, jsonSize?: number, extra: Record<string, string> = {}): Promise<WireResponse> {
  const headers: Record<string, string> = { ...CLIENT_HEADERS, ...extra };
  if (jsonSize !== undefined) headers['Inference-Header-Content-Length'] = String(jsonSize);
  return send(t.url, 'POST', path, body, headers);
}

function tritonGet(path: string): Promise<WireResponse> {
  return send(t.url, 'GET', path, undefined, CLIENT_HEADERS);
}

/** tritonclient's _raise_if_error: any non-200 must carry a JSON body with "error". */
function raiseIfError(response: WireResponse): void {
  if (response.status !== 200) {
    const body = JSON.parse(response.body.toString('utf8'));
    throw new Error(`InferenceServerException [${response.status}]: ${body.error}`);
  }
}

/** A port of tritonclient.http.InferResult: __init__ and as_numpy (as flat typed data). */
class InferResult {
  readonly result: any;
  readonly #buffer: Buffer;
  readonly #offsets = new Map<string, number>();

  constructor(response: WireResponse) {
    raiseIfError(response);
    const headerLength = response.headers['inference-header-content-length'];
    if (headerLength === undefined) {
      this.result = JSON.parse(response.body.toString('utf8'));
      this.#buffer = Buffer.alloc(0);
      return;
    }
    const length = Number(headerLength);
    this.result = JSON.parse(response.body.subarray(0, length).toString('utf8'));
    this.#buffer = response.body.subarray(length);
    let index = 0;
    for (const output of this.result.outputs) {
      const size = output.parameters?.binary_data_size;
      if (size !== undefined) {
        this.#offsets.set(output.name, index);
        index += size;
      }
    }
  }

  output(name: string): any {
    return this.result.outputs.find((o: { name: string }) => o.name === name);
  }

  /** Binary outputs as raw bytes (np.frombuffer), JSON outputs as their data array. */
  asNumpy(name: string): Buffer | unknown[] {
    const output = this.output(name);
    const size = output.parameters?.binary_data_size;
    if (size === undefined) return output.data;
    const start = this.#offsets.get(name)!;
    return this.#buffer.subarray(start, start + size);
  }
}

/** tritonclient.utils.serialize_byte_tensor: each element as <I length then bytes, C order. */
function serializeByteTensor(elements: string[]): Buffer {
  return Buffer.concat(
    elements.flatMap((e) => {
      const bytes = Buffer.from(e, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );
}

describe('tritonclient.http, used as documented, against Switchyard', () => {
  it('is_server_live, is_server_ready, is_model_ready: status 200 means true', async () => {
    expect((await tritonGet('/v2/health/live')).status).toBe(200);
    expect((await tritonGet('/v2/health/ready')).status).toBe(200);
    expect((await tritonGet('/v2/models/linear/ready')).status).toBe(200);
    expect((await tritonGet('/v2/models/linear/versions/1/ready')).status).toBe(200);
    expect((await tritonGet('/v2/models/missing/ready')).status).not.toBe(200);
  });

  it('get_server_metadata and get_model_metadata', async () => {
    const server = await tritonGet('/v2');
    raiseIfError(server);
    expect(JSON.parse(server.body.toString()).extensions).toContain('binary_tensor_data');
    const model = await tritonGet('/v2/models/linear');
    raiseIfError(model);
    expect(JSON.parse(model.body.toString())).toMatchObject({ name: 'linear', inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }] });
  });

  it('infer() with set_data_from_numpy defaults (binary input) and no outputs (all binary)', async () => {
    // InferInput("input", [1, 4], "FP32").set_data_from_numpy(np.array([[1, 2, 3, 4]], np.float32))
    const json = '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"parameters":{"binary_data_output":true}}';
    const body = Buffer.concat([Buffer.from(json), bytesOf(Float32Array.from([1, 2, 3, 4]))]);
    const result = new InferResult(await tritonPost('/v2/models/linear/infer', body, json.length));
    expect(result.output('output')).toMatchObject({ name: 'output', datatype: 'FP32', shape: [1, 2] });
    const data = result.asNumpy('output') as Buffer;
    expect(Array.from(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)))).toEqual([5, 1.5]);
  });

  it('infer() with binary_data=False inputs and outputs: plain JSON both ways, request id echoed', async () => {
    // set_data_from_numpy(arr, binary_data=False); InferRequestedOutput("output", binary_data=False); request_id="17"
    const json =
      '{"id":"17","inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1.0,2.0,3.0,4.0]}],"outputs":[{"name":"output","parameters":{"binary_data":false}}]}';
    const response = await tritonPost('/v2/models/linear/versions/1/infer', json);
    expect(response.headers['inference-header-content-length']).toBeUndefined();
    const result = new InferResult(response);
    expect(result.result.id).toBe('17');
    expect(result.result.model_version).toBe('1');
    expect(result.asNumpy('output')).toEqual([5, 1.5]);
  });

  it('infer() with INT64, BOOL and BYTES numpy inputs, mixed outputs, a version and a timeout', async () => {
    const x = bytesOf(Float32Array.from([1, 2, 3, 4]));
    const ids = bytesOf(BigInt64Array.from([1n, 2n, 9007199254740993n]));
    const mask = Buffer.from([1, 0, 1]); // np.bool_ tobytes()
    const text = serializeByteTensor(['héllo', 'w']);
    const json =
      '{"id":"abc","inputs":[' +
      `{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":${x.length}}},` +
      `{"name":"ids","shape":[1,3],"datatype":"INT64","parameters":{"binary_data_size":${ids.length}}},` +
      `{"name":"mask","shape":[1,3],"datatype":"BOOL","parameters":{"binary_data_size":${mask.length}}},` +
      `{"name":"text","shape":[1,2],"datatype":"BYTES","parameters":{"binary_data_size":${text.length}}}],` +
      '"outputs":[{"name":"ids_plus_one","parameters":{"binary_data":true}},{"name":"text_copy","parameters":{"binary_data":true}},' +
      '{"name":"sum","parameters":{"binary_data":false}}],"parameters":{"timeout":5000000}}';
    const body = Buffer.concat([Buffer.from(json), x, ids, mask, text]);
    const result = new InferResult(await tritonPost('/v2/models/multi_io/versions/1/infer', body, json.length));
    expect(result.result.id).toBe('abc');
    const plusOne = result.asNumpy('ids_plus_one') as Buffer;
    expect([plusOne.readBigInt64LE(0), plusOne.readBigInt64LE(8), plusOne.readBigInt64LE(16)]).toEqual([2n, 3n, 9007199254740994n]);
    expect((result.asNumpy('text_copy') as Buffer).equals(serializeByteTensor(['héllo', 'w']))).toBe(true);
    expect(result.asNumpy('sum')).toEqual([10]);
  });

  it('infer() with FP16 as JSON numbers in, binary out', async () => {
    // set_data_from_numpy(np.array([[0.5, 1.0, -2.0]], np.float16), binary_data=False): val.item() floats
    const json = '{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP16","data":[0.5,1.0,-2.0]}],"parameters":{"binary_data_output":true}}';
    const result = new InferResult(await tritonPost('/v2/models/half/infer', json));
    expect([...(result.asNumpy('output') as Buffer)]).toEqual([...bytesOf(Uint16Array.from([0x3800, 0x3c00, 0xc000]))]);
  });

  it('infer() with request_compression_algorithm="gzip"', async () => {
    const json = '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"parameters":{"binary_data_output":true}}';
    const body = gzipSync(Buffer.concat([Buffer.from(json), bytesOf(Float32Array.from([1, 2, 3, 4]))]));
    const result = new InferResult(await tritonPost('/v2/models/linear/infer', body, json.length, { 'Content-Encoding': 'gzip', 'Accept-Encoding': 'gzip' }));
    expect(result.output('output').parameters.binary_data_size).toBe(8);
  });

  it('a failed infer() raises InferenceServerException with the server\'s "error" message', async () => {
    const json = '{"inputs":[{"name":"input","shape":[1,5],"datatype":"FP32","data":[1.0,2.0,3.0,4.0,5.0]}]}';
    const response = await tritonPost('/v2/models/linear/infer', json);
    expect(response.status).toBe(400);
    expect(() => new InferResult(response)).toThrow(/InferenceServerException \[400\]: .*input/);
  });

  it('get_model_repository_index, load_model, unload_model, get_inference_statistics', async () => {
    const index = await tritonPost('/v2/repository/index', '', undefined, ADMIN);
    raiseIfError(index);
    expect(JSON.parse(index.body.toString())).toEqual(expect.arrayContaining([{ name: 'linear', version: '1', state: 'READY', reason: '' }]));
    raiseIfError(await tritonPost('/v2/repository/models/half/unload', '{"parameters":{"unload_dependents":false}}', undefined, ADMIN));
    expect((await tritonGet('/v2/models/half/ready')).status).not.toBe(200);
    raiseIfError(await tritonPost('/v2/repository/models/half/load', '{}', undefined, ADMIN));
    expect((await tritonGet('/v2/models/half/ready')).status).toBe(200);
    for (const path of ['/v2/models/stats', '/v2/models/linear/stats', '/v2/models/linear/versions/1/stats']) {
      const stats = await tritonGet(path);
      raiseIfError(stats);
      expect(JSON.parse(stats.body.toString()).model_stats).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'linear', version: '1' })]));
    }
  });
});
