/**
 * Open Inference Protocol (KServe V2) inference requests, as Triton speaks them: the JSON
 * `$inference_request`, optionally followed by binary tensor data (`Inference-Header-Content-Length`
 * gives the JSON's length, `binary_data_size` each binary input's), or the raw single-input mode
 * (header length 0: the whole body is the one input's data). Decoded and validated against the
 * signature of the version that will serve it, so every mistake is a 400 that names it. The
 * encoder is the forwarding hop's (src/cluster/): binary data both ways, with the same codecs.
 */
import { SwitchyardError } from '../errors.js';
import { bytesPerElement, DATATYPES, isDatatype, type ModelSignature, type Tensor, type TensorInfo } from '../tensor.js';
import { jsonPreview } from './json-preview.js';
import { frameBinaryBody, tensorFromBinary, tensorToBinary, utf8Element } from './oip-binary.js';
import { tensorFromJson } from './tensor-json.js';
import { findInput, validateInputs, validateOutputNames, validateShape } from './validate-inputs.js';

export interface OipInferRequest {
  /** Echoed in the response when given. */
  readonly id: string | undefined;
  readonly inputs: Record<string, Tensor>;
  /** Outputs to return, in answer order (the request's order, else the model's). */
  readonly outputs: readonly string[];
  /** Outputs to answer as binary data rather than JSON. */
  readonly binaryOutputs: ReadonlySet<string>;
  /**
   * The `timeout` parameter, microseconds (Triton's unit); undefined when absent or 0. Only its
   * type is checked here: its range is the gateway's one timeout rule (src/http/request-params.ts).
   */
  readonly timeoutMicros: number | undefined;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function badRequest(message: string): SwitchyardError {
  return new SwitchyardError('INVALID_REQUEST', message);
}

function badInput(message: string): SwitchyardError {
  return new SwitchyardError('INVALID_INPUT', message);
}

/** `Inference-Header-Content-Length` -> the JSON header's byte length; undefined when absent. */
export function parseHeaderLength(raw: string | undefined, bodyLength: number): number | undefined {
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!/^\d{1,15}$/.test(text)) {
    throw badRequest(`Inference-Header-Content-Length must be a non-negative integer, got '${raw.slice(0, 40)}'`);
  }
  const length = Number(text);
  if (length > bodyLength) {
    throw badRequest(`Inference-Header-Content-Length is ${length} but the body has only ${bodyLength} bytes`);
  }
  return length;
}

/** The JSON header: parsed as usual, and on demand again with every digit of big integers kept. */
interface JsonHeader {
  readonly request: JsonObject;
  /** The same document with integer literals beyond 2^53 as BigInt (parsed once, when first asked). */
  exact(): JsonObject;
}

const INTEGER_LITERAL = /^-?\d+$/;

/**
 * JSON.parse rounds an integer literal beyond 2^53 to the nearest double, so an INT64 like
 * 9007199254740993, which Python's json and Triton's clients write digit for digit, would arrive
 * changed (or out of range, for 2^63 - 1). The reviver sees each number's source text.
 */
function keepBigIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || Number.isSafeInteger(value) || context?.source === undefined) return value;
  return INTEGER_LITERAL.test(context.source) ? BigInt(context.source) : value;
}

/**
 * How deeply arrays and objects nest in JSON text, counted up to `limit + 1` (strings skipped). A
 * loop over the text: JSON.parse with a reviver recurses once per level and would overflow the
 * stack on a document JSON.parse alone reads fine.
 */
function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * `maxDepth` bounds the nesting of the document as a whole where a reviver must read it: the
 * request object, its inputs array, an input object, then its data as deep as the deepest input's
 * rank.
 */
function parseJsonHeader(body: Buffer, length: number, maxDepth: number): JsonHeader {
  if (length === 0) throw new SwitchyardError('INVALID_JSON', 'the body is empty; send an inference request JSON object');
  const text = body.toString('utf8', 0, length);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SwitchyardError('INVALID_JSON', `the inference request is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw badRequest('the inference request must be a JSON object like {"inputs": [{"name", "shape", "datatype", "data"}]}');
  const request = parsed;
  let exact: JsonObject | undefined;
  // The reviver costs a call per value: only for documents with a run of 16 digits (2^53 has 16).
  const parseExact = (): JsonObject => {
    if (!/\d{16}/.test(text)) return request;
    if (nestingExceeds(text, maxDepth)) {
      throw badRequest(`the inference request nests arrays and objects more than ${maxDepth} levels deep; the model's inputs need at most ${maxDepth}`);
    }
    return JSON.parse(text, keepBigIntegers) as JsonObject;
  };
  return { request, exact: () => (exact ??= parseExact()) };
}

function optionalParameters(owner: string, value: unknown): JsonObject {
  if (value === undefined) return {};
  if (!isObject(value)) throw badRequest(`${owner} "parameters" must be an object`);
  return value;
}

function optionalBoolean(owner: string, parameters: JsonObject, key: string): boolean | undefined {
  const value = parameters[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`${owner} parameter "${key}" must be a boolean`);
  return value;
}

function timeoutOf(parameters: JsonObject): number | undefined {
  const value = parameters.timeout;
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw badRequest(`parameter "timeout" must be a non-negative integer number of microseconds, got ${jsonPreview(value)}`);
  }
  return value === 0 ? undefined : value;
}

function shapeOf(name: string, value: unknown): number[] {
  if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw badInput(`input '${name}': "shape" must be an array of non-negative integers`);
  }
  return value as number[];
}

function datatypeOf(name: string, value: unknown, info: TensorInfo): TensorInfo['datatype'] {
  if (!isDatatype(value)) {
    throw badInput(
      `input '${name}': datatype ${jsonPreview(value)} is not one onnxruntime-node can take; use one of ${DATATYPES.join(', ')}`,
    );
  }
  if (value !== info.datatype) throw badInput(`input '${name}' has datatype ${value}; the model expects ${info.datatype}`);
  return value;
}

export interface DecodeInferOptions {
  /**
   * The body's whole ArrayBuffer is this request's alone and is not read after inference (see
   * bodyOwnsBuffer in src/http/request-body.ts): binary inputs that are views into it are marked
   * movable, so the runtime moves the buffer to its thread instead of copying them. Default false.
   */
  readonly movableBody?: boolean;
}

/** The request body as inputs are decoded: where the binary data after the JSON header is read up to. */
interface BodyCursor {
  readonly body: Buffer;
  readonly movable: boolean;
  offset: number;
  /** False when no Inference-Header-Content-Length came: then there is no binary data at all. */
  readonly headerGiven: boolean;
  readonly header: JsonHeader;
}

function exactData(header: JsonHeader, index: number): unknown {
  const inputs = header.exact().inputs as JsonObject[];
  return inputs[index]!.data;
}

function decodeInput(raw: unknown, index: number, signature: ModelSignature, cursor: BodyCursor): [string, Tensor] {
  if (!isObject(raw) || typeof raw.name !== 'string') {
    throw badRequest(`inputs[${index}] must be an object with a "name", "shape", "datatype" and "data" (or binary data)`);
  }
  const name = raw.name;
  const info = findInput(signature, name);
  const datatype = datatypeOf(name, raw.datatype, info);
  const shape = shapeOf(name, raw.shape);
  validateShape(info, shape);
  const parameters = optionalParameters(`input '${name}'`, raw.parameters);
  if (parameters.shared_memory_region !== undefined) {
    throw badRequest(`input '${name}': the shared-memory extension is not supported; send the data as JSON or binary data`);
  }
  const binarySize = parameters.binary_data_size;
  if (binarySize === undefined) {
    if (raw.data === undefined) throw badInput(`input '${name}' has neither "data" nor a "binary_data_size" parameter`);
    // 64-bit integers take their digits from the exact parse: JSON.parse may have rounded raw.data's.
    const data = datatype === 'INT64' || datatype === 'UINT64' ? exactData(cursor.header, index) : raw.data;
    // tensorFromJson compares the element count before allocating and refuses NUL in BYTES.
    return [name, tensorFromJson(name, datatype, { shape, data }, info.shape)];
  }
  if (typeof binarySize !== 'number' || !Number.isSafeInteger(binarySize) || binarySize < 0) {
    throw badRequest(`input '${name}': "binary_data_size" must be a non-negative integer, got ${jsonPreview(binarySize)}`);
  }
  if (raw.data !== undefined) throw badRequest(`input '${name}' has both "data" and binary data; send one`);
  if (!cursor.headerGiven) {
    throw badRequest(`input '${name}' has a binary_data_size but the request has no Inference-Header-Content-Length header`);
  }
  const start = cursor.offset;
  const available = cursor.body.length - start;
  if (binarySize > available) {
    throw badRequest(
      `input '${name}': binary_data_size is ${binarySize} but only ${available} bytes of binary data remain in the body (truncated body or wrong size)`,
    );
  }
  cursor.offset += binarySize;
  return [name, movableIf(cursor.movable, cursor.body, tensorFromBinary(name, datatype, shape, cursor.body.subarray(start, start + binarySize)))];
}

/** The tensor, marked movable when its data is a view into a body that may be moved (not a copy of it). */
function movableIf(movable: boolean, body: Buffer, tensor: Tensor): Tensor {
  if (!movable || Array.isArray(tensor.data) || tensor.data.buffer !== body.buffer) return tensor;
  return { ...tensor, movable: true };
}

function decodeOutputs(
  raw: unknown,
  signature: ModelSignature,
  allBinary: boolean,
): { outputs: readonly string[]; binaryOutputs: Set<string> } {
  if (raw === undefined) {
    const outputs = validateOutputNames(signature, undefined);
    return { outputs, binaryOutputs: new Set(allBinary ? outputs : []) };
  }
  if (!Array.isArray(raw)) throw badRequest('"outputs" must be an array of {"name", "parameters"?} objects');
  const names: string[] = [];
  const binaryOutputs = new Set<string>();
  raw.forEach((item, index) => {
    if (!isObject(item) || typeof item.name !== 'string') throw badRequest(`outputs[${index}] must be an object with a "name"`);
    const name = item.name;
    if (names.includes(name)) throw badRequest(`output '${name}' is requested twice`);
    const parameters = optionalParameters(`output '${name}'`, item.parameters);
    if (parameters.classification !== undefined) {
      throw badRequest(`output '${name}': the classification extension is not supported`);
    }
    if (parameters.shared_memory_region !== undefined) {
      throw badRequest(`output '${name}': the shared-memory extension is not supported`);
    }
    if (optionalBoolean(`output '${name}'`, parameters, 'binary_data') ?? allBinary) binaryOutputs.add(name);
    names.push(name);
  });
  return { outputs: validateOutputNames(signature, names), binaryOutputs };
}

/**
 * Decodes a request body. `headerLength` is `Inference-Header-Content-Length` (undefined: the
 * whole body is JSON; 0: raw binary mode).
 */
export function decodeInferRequest(
  body: Buffer,
  headerLength: number | undefined,
  signature: ModelSignature,
  options: DecodeInferOptions = {},
): OipInferRequest {
  const movable = options.movableBody === true;
  if (headerLength === 0) return decodeRawRequest(body, signature, movable);
  const jsonLength = headerLength ?? body.length;
  // Root object, inputs array, input object, then data (at least one array) as deep as its rank.
  const maxRank = Math.max(1, ...signature.inputs.map((input) => input.shape.length));
  const header = parseJsonHeader(body, jsonLength, 3 + maxRank);
  const { request } = header;

  const { id } = request;
  if (id !== undefined && typeof id !== 'string') throw badRequest('"id" must be a string');
  const parameters = optionalParameters('the request', request.parameters);
  const allBinary = optionalBoolean('the request', parameters, 'binary_data_output') ?? false;
  const timeoutMicros = timeoutOf(parameters);

  if (!Array.isArray(request.inputs)) throw badRequest('"inputs" must be an array of input tensors');
  const cursor: BodyCursor = { body, movable, offset: jsonLength, headerGiven: headerLength !== undefined, header };
  // No prototype: an input name is only a key, never Object.prototype's `constructor` or `__proto__`.
  const inputs: Record<string, Tensor> = Object.create(null);
  request.inputs.forEach((raw, index) => {
    const [name, tensor] = decodeInput(raw, index, signature, cursor);
    if (Object.hasOwn(inputs, name)) throw badInput(`input '${name}' is given twice`);
    inputs[name] = tensor;
  });
  if (cursor.offset !== body.length) {
    throw badRequest(
      `the body has ${body.length - cursor.offset} bytes after the JSON header and the binary data its inputs declare (binary_data_size)`,
    );
  }
  validateInputs(signature, inputs);
  return { id, inputs, ...decodeOutputs(request.outputs, signature, allBinary), timeoutMicros };
}

/**
 * Raw binary mode: the body is the data of the model's only input; its shape is deduced from the
 * byte size. A leading dynamic dim counts as a batch of 1 when another dynamic dim is left to
 * deduce; at most one dynamic dim may remain. BYTES take the whole body as one element. Every
 * output is answered as binary data.
 */
function decodeRawRequest(body: Buffer, signature: ModelSignature, movable: boolean): OipInferRequest {
  if (signature.inputs.length !== 1) {
    throw badRequest(
      `a raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly 1 input; this one has ${signature.inputs.length}`,
    );
  }
  const info = signature.inputs[0]!;
  const shape = [...info.shape];
  let dynamic = shape.filter((d) => d < 0).length;
  if (dynamic > 1 && shape[0]! < 0) {
    shape[0] = 1;
    dynamic--;
  }
  let tensor: Tensor;
  if (info.datatype === 'BYTES') {
    const batched = shape.map((d) => (d < 0 ? 1 : d));
    if (dynamic > 1 || batched.some((d) => d !== 1)) {
      throw badRequest(`a raw binary BYTES input must hold one element, but input '${info.name}' has shape [${info.shape.join(',')}]`);
    }
    // The raw body is the one element's bytes, without a length prefix.
    tensor = { datatype: 'BYTES', shape: batched, data: [utf8Element(info.name, body, 0)] };
  } else {
    if (dynamic > 1) {
      throw badRequest(
        `the shape of raw input '${info.name}' [${info.shape.join(',')}] cannot be deduced from its byte size: more than one variable-size dimension`,
      );
    }
    const size = bytesPerElement(info.datatype)!;
    const fixed = shape.reduce((product, d) => (d < 0 ? product : product * d), 1);
    const axis = shape.findIndex((d) => d < 0);
    if (axis >= 0) {
      const rowBytes = fixed * size;
      if (rowBytes === 0 || body.length % rowBytes !== 0) {
        throw badInput(
          `raw input '${info.name}' of ${info.datatype} [${info.shape.join(',')}]: ${body.length} bytes is not a whole number of ${rowBytes}-byte slices`,
        );
      }
      shape[axis] = body.length / rowBytes;
    }
    tensor = movableIf(movable, body, tensorFromBinary(info.name, info.datatype, shape, body));
  }
  const inputs: Record<string, Tensor> = Object.create(null);
  inputs[info.name] = tensor;
  validateInputs(signature, inputs);
  const outputs = validateOutputNames(signature, undefined);
  return { id: undefined, inputs, outputs, binaryOutputs: new Set(outputs), timeoutMicros: undefined };
}

export interface EncodedOipRequest {
  /** The JSON header, then every input's binary data in the order the header lists them. */
  readonly body: Buffer;
  /** Byte length of the JSON header (`Inference-Header-Content-Length`). */
  readonly headerLength: number;
}

/**
 * The other direction, for the forwarding hop (src/cluster/): a request whose inputs all travel
 * as binary data (never re-encoded as JSON) and whose outputs are all asked for as binary data.
 * `outputs` undefined asks for every output of the model.
 */
export function encodeInferRequest(parts: { readonly id?: string | undefined; readonly inputs: Readonly<Record<string, Tensor>>; readonly outputs?: readonly string[] | undefined }): EncodedOipRequest {
  const chunks: Buffer[] = [];
  let binaryLength = 0;
  const inputs: string[] = [];
  for (const name in parts.inputs) {
    const tensor = parts.inputs[name]!;
    const chunk = tensorToBinary(tensor);
    chunks.push(chunk);
    binaryLength += chunk.length;
    inputs.push(
      `{"name":${JSON.stringify(name)},"datatype":"${tensor.datatype}","shape":[${tensor.shape.join(',')}],"parameters":{"binary_data_size":${chunk.length}}}`,
    );
  }
  const outputs = parts.outputs?.map((name) => `{"name":${JSON.stringify(name)},"parameters":{"binary_data":true}}`);
  const json =
    '{' +
    (parts.id === undefined ? '' : `"id":${JSON.stringify(parts.id)},`) +
    `"inputs":[${inputs.join(',')}]` +
    (outputs === undefined ? '' : `,"outputs":[${outputs.join(',')}]`) +
    ',"parameters":{"binary_data_output":true}}';
  return frameBinaryBody(json, chunks, binaryLength);
}
