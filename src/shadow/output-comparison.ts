/**
 * How a shadow version's outputs are judged against the primary's: the same outputs with the same
 * datatype and shape, every element within |shadow - primary| <= atol + rtol * |primary| (numpy's
 * isclose, primary as the reference), and for outputs that look like class scores (2-D float,
 * [batch, classes] with classes > 1) whether each row's argmax is the same, since a model can
 * drift numerically and still pick the same class. Pure, so it is tested on plain tensors.
 */
import { fromHalfBits } from '../protocol/float16.js';
import type { Tensor } from '../tensor.js';

export interface OutputTolerance {
  /** Relative tolerance. */
  readonly rtol: number;
  /** Absolute tolerance. */
  readonly atol: number;
}

export interface OutputComparison {
  /** Every output present in both, same datatype and shape, every element within tolerance. */
  readonly agreed: boolean;
  /** Largest |shadow - primary| over the elements compared (0 when none could be). */
  readonly maxAbsDifference: number;
  /** Class-score rows compared by argmax, and how many picked the same class. */
  readonly argmaxRows: number;
  readonly argmaxAgreed: number;
  /** Why it did not agree (the first reason found), for logs. */
  readonly reason?: string;
}

const FLOATS = new Set(['FP16', 'FP32', 'FP64']);

export function compareOutputs(
  primary: Readonly<Record<string, Tensor>>,
  shadow: Readonly<Record<string, Tensor>>,
  tolerance: OutputTolerance,
): OutputComparison {
  let agreed = true;
  let reason: string | undefined;
  let maxAbsDifference = 0;
  let argmaxRows = 0;
  let argmaxAgreed = 0;
  const disagree = (why: string) => {
    agreed = false;
    reason ??= why;
  };
  for (const name of Object.keys(primary)) {
    const a = primary[name]!;
    const b = shadow[name];
    if (!b) {
      disagree(`output "${name}" is missing`);
      continue;
    }
    if (a.datatype !== b.datatype) {
      disagree(`output "${name}" is ${b.datatype}, the primary's ${a.datatype}`);
      continue;
    }
    if (a.shape.length !== b.shape.length || a.shape.some((dim, i) => dim !== b.shape[i])) {
      disagree(`output "${name}" has shape [${b.shape.join(', ')}], the primary's [${a.shape.join(', ')}]`);
      continue;
    }
    if (Array.isArray(a.data) || Array.isArray(b.data)) {
      const left = a.data as readonly string[];
      const right = b.data as readonly string[];
      if (left.length !== right.length || left.some((value, i) => value !== right[i])) disagree(`output "${name}" has other strings`);
      continue;
    }
    const left = numbers(a);
    const right = numbers(b);
    if (left.length !== right.length) {
      disagree(`output "${name}" has ${right.length} elements, the primary's ${left.length}`);
      continue;
    }
    let outside = false;
    for (let i = 0; i < left.length; i++) {
      const expected = left[i]!;
      const actual = right[i]!;
      if (Number.isNaN(expected) || Number.isNaN(actual)) {
        if (Number.isNaN(expected) !== Number.isNaN(actual)) outside = true;
        continue;
      }
      const difference = expected === actual ? 0 : Math.abs(actual - expected);
      if (difference > maxAbsDifference) maxAbsDifference = difference;
      if (difference > tolerance.atol + tolerance.rtol * Math.abs(expected)) outside = true;
    }
    if (outside) disagree(`output "${name}" differs by more than atol ${tolerance.atol} + rtol ${tolerance.rtol} x |primary|`);
    if (FLOATS.has(a.datatype) && a.shape.length === 2 && a.shape[1]! > 1) {
      const classes = a.shape[1]!;
      for (let row = 0; row < a.shape[0]!; row++) {
        argmaxRows++;
        if (argmax(left, row * classes, classes) === argmax(right, row * classes, classes)) argmaxAgreed++;
      }
    }
  }
  return { agreed, maxAbsDifference, argmaxRows, argmaxAgreed, ...(reason === undefined ? {} : { reason }) };
}

/** Elements as plain numbers: FP16 from its bits, 64-bit integers converted (exact up to 2^53). */
function numbers(tensor: Tensor): ArrayLike<number> {
  const data = tensor.data;
  if (tensor.datatype === 'FP16') return Array.from(data as Uint16Array, fromHalfBits);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return data as ArrayLike<number>;
}

/** Index of the largest element of one row (the first on ties; NaN never wins). */
function argmax(values: ArrayLike<number>, start: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[start + i]! > values[start + best]!) best = i;
  return best;
}
