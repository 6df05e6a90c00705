/**
 * Open Inference Protocol inference responses: `$inference_response` JSON, with the outputs the
 * client asked for as binary data appended after it (their `binary_data_size` in the JSON and the
 * JSON's length in `Inference-Header-Content-Length`). The JSON is written as text around each
 * output's data, which is serialised in one pass per output. The decoder is the forwarding hop's
 * (src/cluster/): it reads another server's answer with the same element codecs.
 */
import { isDatatype, type Tensor } from '../tensor.js';
import { fromHalfBits } from './float16.js';
import { frameBinaryBody, tensorFromBinary, tensorToBinary } from './oip-binary.js';
import { tensorFromJson } from './tensor-json.js';

export interface OipInferResponseParts {
  readonly model: string;
  readonly version: number;
  readonly id: string | undefined;
  readonly outputs: Readonly<Record<string, Tensor>>;
  /** Answer order. */
  readonly order: readonly string[];
  readonly binaryOutputs: ReadonlySet<string>;
  /** Where a body with binary outputs is written (a buffer of exactly `bytes`, not cleared). Default Buffer.allocUnsafe. */
  readonly allocate?: (bytes: number) => Buffer;
}

export interface EncodedOipResponse {
  /** The whole body: JSON, then the binary outputs in the order the JSON lists them. */
  readonly body: string | Buffer;
  /** Byte length of the JSON part when binary outputs follow it; undefined for a JSON-only body. */
  readonly headerLength: number | undefined;
}

/**
 * A JSON number; NaN and ±Infinity have none and become null, as in the native API. Negative zero
 * is written "-0.0", as rapidjson (Triton's JSON library) writes it: parsers that read integer
 * literals as integers (Python's json and rapidjson, so tritonclient) take "-0" for 0.
 */
function jsonNumber(value: number): string {
  if (!Number.isFinite(value)) return 'null';
  return value === 0 && 1 / value < 0 ? '-0.0' : String(value);
}

/** A tensor's elements as a flat, row-major JSON array (text). */
export function flatJsonData(tensor: Tensor): string {
  const { datatype, data } = tensor;
  switch (datatype) {
    case 'BYTES':
      return JSON.stringify(data);
    case 'BOOL': {
      const bytes = data as Uint8Array;
      const parts = new Array<string>(bytes.length);
      for (let i = 0; i < bytes.length; i++) parts[i] = bytes[i] === 0 ? 'false' : 'true';
      return `[${parts.join(',')}]`;
    }
    case 'FP16': {
      const bits = data as Uint16Array;
      const parts = new Array<string>(bits.length);
      for (let i = 0; i < bits.length; i++) parts[i] = jsonNumber(fromHalfBits(bits[i]!));
      return `[${parts.join(',')}]`;
    }
    case 'FP32':
    case 'FP64': {
      const floats = data as Float32Array | Float64Array;
      // TypedArray#join prints each number as JSON.stringify does, without a plain array of heap
      // numbers first (Array.from + JSON.stringify cost ~5x as much). Only -0 (join writes "0") and
      // NaN/±Infinity (no JSON form) need the per-element way.
      let plain = true;
      for (let i = 0; i < floats.length; i++) {
        const v = floats[i]!;
        if ((v === 0 && 1 / v < 0) || v - v !== 0) {
          plain = false;
          break;
        }
      }
      if (plain) return `[${floats.join(',')}]`;
      const parts = new Array<string>(floats.length);
      for (let i = 0; i < floats.length; i++) parts[i] = jsonNumber(floats[i]!);
      return `[${parts.join(',')}]`;
    }
    default:
      // Integers, INT64/UINT64 included: BigInt's decimal digits are exact JSON numbers.
      return `[${(data as Exclude<Tensor['data'], string[]>).join(',')}]`;
  }
}

/** Builds the response body; binary outputs are copied once, from their buffers, into it. */
export function encodeInferResponse(parts: OipInferResponseParts): EncodedOipResponse {
  const { model, version, id, outputs, order, binaryOutputs } = parts;
  const chunks: Buffer[] = [];
  let binaryLength = 0;
  const described = order.map((name) => {
    const tensor = outputs[name];
    if (!tensor) throw new Error(`the runtime returned no output '${name}'`);
    const head = `{"name":${JSON.stringify(name)},"datatype":"${tensor.datatype}","shape":[${tensor.shape.join(',')}]`;
    if (!binaryOutputs.has(name)) return `${head},"data":${flatJsonData(tensor)}}`;
    const chunk = tensorToBinary(tensor);
    chunks.push(chunk);
    binaryLength += chunk.length;
    return `${head},"parameters":{"binary_data_size":${chunk.length}}}`;
  });
  const json =
    `{"model_name":${JSON.stringify(model)},"model_version":"${version}"` +
    (id === undefined ? '' : `,"id":${JSON.stringify(id)}`) +
    `,"outputs":[${described.join(',')}]}`;
  if (chunks.length === 0) return { body: json, headerLength: undefined };
  return frameBinaryBody(json, chunks, binaryLength, parts.allocate);
}

export interface DecodedOipResponse {
  readonly model: string | undefined;
  readonly version: string | undefined;
  readonly outputs: Record<string, Tensor>;
}

/**
 * The other direction, for the forwarding hop (src/cluster/): an upstream's answer, its outputs as
 * binary data (as asked) or JSON data (a server that ignores the binary request). Throws a plain
 * Error saying what is wrong with it: a malformed answer is the upstream's fault, never the client's.
 */
export function decodeInferResponse(body: Buffer, headerLength: number | undefined): DecodedOipResponse {
  const jsonLength = headerLength ?? body.length;
  if (jsonLength > body.length) throw new Error(`Inference-Header-Content-Length is ${jsonLength} but the body has ${body.length} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8', 0, jsonLength));
  } catch (error) {
    throw new Error(`the answer is not an inference response (not JSON: ${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || !Array.isArray((parsed as { outputs?: unknown }).outputs)) {
    throw new Error('the answer is not an inference response (no "outputs" array)');
  }
  const response = parsed as { model_name?: unknown; model_version?: unknown; outputs: unknown[] };
  const outputs: Record<string, Tensor> = Object.create(null);
  let offset = jsonLength;
  response.outputs.forEach((raw, index) => {
    const output = raw as { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown; parameters?: { binary_data_size?: unknown } } | null;
    if (output === null || typeof output !== 'object' || typeof output.name !== 'string') throw new Error(`outputs[${index}] has no name`);
    const { name, datatype, shape } = output;
    if (!isDatatype(datatype)) throw new Error(`output '${name}' has no known datatype`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw new Error(`output '${name}' has no valid shape`);
    const size = output.parameters?.binary_data_size;
    try {
      if (size === undefined) {
        outputs[name] = tensorFromJson(name, datatype, { shape, data: output.data }, shape as number[]);
      } else {
        if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || offset + size > body.length) {
          throw new Error(`binary_data_size ${String(size)} does not fit the ${body.length - offset} bytes left`);
        }
        // A copy: the output outlives the response body, whose memory may be pooled.
        outputs[name] = tensorFromBinary(name, datatype, shape as number[], Buffer.from(body.subarray(offset, offset + size)));
        offset += size;
      }
    } catch (error) {
      throw new Error(`output '${name}' cannot be read: ${(error as Error).message}`);
    }
  });
  if (offset !== body.length) throw new Error(`${body.length - offset} bytes after the outputs' binary data`);
  return {
    model: typeof response.model_name === 'string' ? response.model_name : undefined,
    version: typeof response.model_version === 'string' ? response.model_version : undefined,
    outputs,
  };
}
