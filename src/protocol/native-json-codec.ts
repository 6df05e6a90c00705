/**
 * The native JSON protocol: `{"inputs": {name: nested | {shape, data}}, "outputs"?: [names]}` in,
 * `{"model_name", "model_version", "outputs": {name: nested}}` out.
 */
import { SwitchyardError } from '../errors.js';
import type { ModelSignature, Tensor } from '../tensor.js';
import { tensorFromJson, tensorToJsonText } from './tensor-json.js';
import { findInput, validateInputs, validateOutputNames } from './validate-inputs.js';

export interface DecodedNativeRequest {
  readonly inputs: Record<string, Tensor>;
  readonly outputs: readonly string[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Decodes and validates a parsed JSON body against the signature of the version that will serve it. */
export function decodeNativeRequest(body: unknown, signature: ModelSignature): DecodedNativeRequest {
  if (!isPlainObject(body)) {
    throw new SwitchyardError('INVALID_REQUEST', 'the body must be a JSON object like {"inputs": {"<input>": [[...]]}}');
  }
  const { inputs: rawInputs, outputs: rawOutputs } = body;
  if (!isPlainObject(rawInputs)) {
    throw new SwitchyardError('INVALID_REQUEST', '"inputs" must be an object mapping input names to arrays or {"shape", "data"}');
  }
  if (rawOutputs !== undefined && (!Array.isArray(rawOutputs) || !rawOutputs.every((o) => typeof o === 'string'))) {
    throw new SwitchyardError('INVALID_REQUEST', '"outputs" must be an array of output names');
  }
  // No prototype: an input name is only a key, never Object.prototype's `constructor` or `__proto__`.
  const inputs: Record<string, Tensor> = Object.create(null);
  for (const [name, value] of Object.entries(rawInputs)) {
    const info = findInput(signature, name);
    inputs[name] = tensorFromJson(name, info.datatype, value, info.shape);
  }
  validateInputs(signature, inputs);
  return { inputs, outputs: validateOutputNames(signature, rawOutputs as string[] | undefined) };
}

/**
 * A body that decoded, as JSON text with only what the decoder reads: "inputs" and "outputs", and
 * of a `{shape, data}` input only those two. What a job stores: a key the decoder ignores could
 * hold anything, even arrays nested too deep for JSON.stringify. Only for a body that decoded
 * (its inputs are then no deeper than their rank).
 */
export function nativeRequestText(body: unknown): string {
  const { inputs, outputs } = body as { inputs: Record<string, unknown>; outputs?: unknown };
  const kept: Record<string, unknown> = Object.create(null);
  for (const [name, value] of Object.entries(inputs)) {
    kept[name] = isPlainObject(value) ? { shape: value.shape, data: value.data } : value;
  }
  return JSON.stringify(outputs === undefined ? { inputs: kept } : { inputs: kept, outputs });
}

/** The answer as JSON text, written directly (this is on the hot path for every request). */
export function encodeNativeResponse(model: string, version: number, outputs: Readonly<Record<string, Tensor>>): string {
  return `{"model_name":${JSON.stringify(model)},"model_version":"${version}","outputs":${encodeNativeOutputs(outputs)}}`;
}

/** The `outputs` object alone (`{"<output>": <nested array>, ...}`), e.g. an async job's result. */
export function encodeNativeOutputs(outputs: Readonly<Record<string, Tensor>>): string {
  let encoded = '';
  for (const name of Object.keys(outputs)) {
    encoded += `${encoded ? ',' : ''}${JSON.stringify(name)}:${tensorToJsonText(outputs[name]!)}`;
  }
  return `{${encoded}}`;
}
