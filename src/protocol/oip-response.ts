/**
 * Open Inference Protocol inference responses: `$inference_response` JSON, with the outputs the
 * client asked for as binary data appended after it (their `binary_data_size` in the JSON and the
 * JSON's length in `Inference-Header-Content-Length`). The JSON is written as text around each
 * output's data, which is serialised in one pass per output.
 */
import type { Tensor } from '../tensor.js';
import { fromHalfBits } from './float16.js';
import { tensorToBinary } from './oip-binary.js';

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
  const headerLength = Buffer.byteLength(json, 'utf8');
  const body = (parts.allocate ?? Buffer.allocUnsafe)(headerLength + binaryLength);
  body.write(json, 0, 'utf8');
  let offset = headerLength;
  for (const chunk of chunks) {
    chunk.copy(body, offset);
    offset += chunk.length;
  }
  return { body, headerLength };
}
