/**
 * Checks decoded inputs against a model's signature: names, datatype, rank and fixed dims, so a
 * bad request is a 400 that says exactly what is wrong instead of an onnxruntime failure.
 */
import { SwitchyardError } from '../errors.js';
import type { ModelSignature, Tensor, TensorInfo } from '../tensor.js';

export function describeTensorInfo(info: TensorInfo): string {
  return `${info.name} (${info.datatype} [${info.shape.join(',')}])`;
}

function describeInputs(signature: ModelSignature): string {
  return signature.inputs.map(describeTensorInfo).join(', ');
}

export function findInput(signature: ModelSignature, name: string): TensorInfo {
  const info = signature.inputs.find((input) => input.name === name);
  if (!info) {
    throw new SwitchyardError('INVALID_INPUT', `unknown input '${name}'; the model expects ${describeInputs(signature)}`);
  }
  return info;
}

export function validateShape(info: TensorInfo, shape: readonly number[]): void {
  // Checked on every request: the message text is only built for a shape that is wrong.
  if (shapeMatches(info.shape, shape)) return;
  const expected = `[${info.shape.join(',')}]`;
  if (shape.length !== info.shape.length) {
    throw new SwitchyardError(
      'INVALID_INPUT',
      `input '${info.name}' has shape [${shape.join(',')}] (rank ${shape.length}); the model expects rank ${info.shape.length}: ${expected} (-1 = any size)`,
    );
  }
  for (let axis = 0; axis < shape.length; axis++) {
    const want = info.shape[axis]!;
    if (want >= 0 && shape[axis] !== want) {
      throw new SwitchyardError(
        'INVALID_INPUT',
        `input '${info.name}' has shape [${shape.join(',')}]; dimension ${axis} must be ${want}: ${expected} (-1 = any size)`,
      );
    }
  }
}

function shapeMatches(declared: readonly number[], shape: readonly number[]): boolean {
  if (shape.length !== declared.length) return false;
  for (let axis = 0; axis < shape.length; axis++) if (declared[axis]! >= 0 && shape[axis] !== declared[axis]) return false;
  return true;
}

/** Every declared input present, none unknown, each with the right datatype and shape. */
export function validateInputs(signature: ModelSignature, inputs: Readonly<Record<string, Tensor>>): void {
  for (const [name, tensor] of Object.entries(inputs)) {
    const info = findInput(signature, name);
    if (tensor.datatype !== info.datatype) {
      throw new SwitchyardError(
        'INVALID_INPUT',
        `input '${name}' has datatype ${tensor.datatype}; the model expects ${info.datatype}`,
      );
    }
    validateShape(info, tensor.shape);
  }
  // Own keys only: `in` would find Object.prototype's `constructor` or `toString` as given inputs.
  const missing = signature.inputs.filter((info) => !Object.hasOwn(inputs, info.name));
  if (missing.length > 0) {
    throw new SwitchyardError(
      'INVALID_INPUT',
      `missing input${missing.length > 1 ? 's' : ''} ${missing.map(describeTensorInfo).join(', ')}`,
    );
  }
}

/** Requested output names must exist; none requested means all. */
export function validateOutputNames(signature: ModelSignature, names: readonly string[] | undefined): readonly string[] {
  if (!names) return signature.outputs.map((output) => output.name);
  for (const name of names) {
    if (!signature.outputs.some((output) => output.name === name)) {
      throw new SwitchyardError(
        'INVALID_INPUT',
        `unknown output '${name}'; the model has ${signature.outputs.map(describeTensorInfo).join(', ')}`,
      );
    }
  }
  return names;
}
