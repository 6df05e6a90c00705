/**
 * JSON values <-> Tensor for one declared input or output. Nested arrays carry their shape;
 * `{shape, data}` carries a flat row-major array. Elements are checked against the datatype as
 * they are copied, so a wrong element type is a 400 that names its position, never a 500.
 *
 * Nothing is allocated before the shape is known to be true: nesting deeper than the signature's
 * rank is refused while the shape is read (so no walk recurses deeper than that rank), the shape is
 * checked against the signature, and every row of a nested array against the first row (or the
 * element count of `data` against the shape). A tensor is therefore never larger than the elements
 * the body really holds: a few bytes of `[[0,0,...],[],[]]` cannot size N² elements.
 */
import { SwitchyardError } from '../errors.js';
import { elementCount, TYPED_ARRAY_OF, type Datatype, type Tensor, type TensorData } from '../tensor.js';
import { fromHalfBits, toHalfBits } from './float16.js';
import { jsonPreview } from './json-preview.js';
import { validateShape } from './validate-inputs.js';

/**
 * The deepest nesting read when no signature gives the rank (a decoder called without one, e.g. in
 * tests): numpy's own limit on dimensions.
 */
export const MAX_RANK = 64;

const INTEGER_RANGE: Partial<Record<Datatype, readonly [number, number]>> = {
  UINT8: [0, 0xff],
  UINT16: [0, 0xffff],
  UINT32: [0, 0xffffffff],
  INT8: [-0x80, 0x7f],
  INT16: [-0x8000, 0x7fff],
  INT32: [-0x80000000, 0x7fffffff],
};

function invalid(message: string, details?: unknown): SwitchyardError {
  return new SwitchyardError('INVALID_INPUT', message, details === undefined ? {} : { details });
}

function describeRank(declared: readonly number[] | undefined): string {
  return declared ? `the model expects rank ${declared.length} ([${declared.join(',')}])` : `at most ${MAX_RANK} levels are read`;
}

/**
 * Shape of a nested array, following first elements, at most `maxRank` levels deep (a loop, so a
 * client nesting thousands of levels costs that many steps and no stack).
 */
function nestedShape(name: string, value: unknown, declared: readonly number[] | undefined): number[] {
  const maxRank = declared?.length ?? MAX_RANK;
  const shape: number[] = [];
  let current = value;
  while (Array.isArray(current)) {
    if (shape.length === maxRank) {
      throw invalid(`input '${name}' is nested more than ${maxRank} levels deep; ${describeRank(declared)}`);
    }
    shape.push(current.length);
    if (current.length === 0) break;
    current = current[0];
  }
  return shape;
}

/**
 * Every array above the innermost level holds arrays as long as the shape says, checked before
 * anything is allocated; only arrays are visited (not their elements), at most `shape.length`
 * levels deep. Once it passes, the shape's element count is what the body really holds.
 */
function checkRows(name: string, node: unknown, shape: readonly number[], depth: number, path: number[]): void {
  if (!Array.isArray(node) || node.length !== shape[depth]) {
    throw invalid(`input '${name}': ragged nested array at [${path.join(',')}]: expected ${shape[depth]} items like the first row`);
  }
  if (depth === shape.length - 1) return;
  for (let i = 0; i < node.length; i++) {
    path.push(i);
    checkRows(name, node[i], shape, depth + 1, path);
    path.pop();
  }
}

/**
 * `data` may be flat or nested row-major; nested, it is flattened at most `maxDepth` levels deep
 * (the shape's rank) without recursing deeper, so its true element count is known before the
 * tensor is allocated.
 */
function flatElements(name: string, items: unknown[], maxDepth: number): unknown[] {
  if (!items.some(Array.isArray)) return items;
  const out: unknown[] = [];
  const walk = (node: unknown[], depth: number): void => {
    for (const item of node) {
      if (!Array.isArray(item)) {
        out.push(item);
        continue;
      }
      if (depth === maxDepth) {
        throw invalid(`input '${name}': "data" is nested more than ${maxDepth} level${maxDepth === 1 ? '' : 's'} deep; its shape has rank ${maxDepth}`);
      }
      walk(item, depth + 1);
    }
  };
  walk(items, 1);
  return out;
}

type ElementWriter = (value: unknown, index: number) => boolean;

/** In a `u` regexp a surrogate pair is one code point, so only an unpaired surrogate is category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

function elementWriter(datatype: Datatype, data: TensorData): ElementWriter {
  switch (datatype) {
    case 'FP32':
    case 'FP64': {
      const out = data as Float32Array | Float64Array;
      return (v, i) => typeof v === 'number' && ((out[i] = v), true);
    }
    case 'FP16': {
      const out = data as Uint16Array;
      return (v, i) => typeof v === 'number' && ((out[i] = toHalfBits(v)), true);
    }
    case 'BOOL': {
      // Only true and false: a number (even 0 or 1) is refused, as the protocol's JSON form says.
      const out = data as Uint8Array;
      return (v, i) => typeof v === 'boolean' && ((out[i] = v ? 1 : 0), true);
    }
    case 'INT64':
    case 'UINT64': {
      const out = data as BigInt64Array | BigUint64Array;
      const [min, max] = datatype === 'INT64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
      return (v, i) => {
        let big: bigint;
        // A bigint is an integer literal the JSON parser kept exact (see oip-request.ts).
        if (typeof v === 'bigint') big = v;
        else if (typeof v === 'number' && Number.isInteger(v)) big = BigInt(v);
        else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) big = BigInt(v);
        else return false;
        if (big < min || big > max) return false;
        out[i] = big;
        return true;
      };
    }
    case 'BYTES': {
      const out = data as string[];
      // onnxruntime-node cuts string tensors at a NUL, and writes a lone surrogate (text with no
      // UTF-8 form) as U+FFFD: refuse both rather than silently change the string.
      return (v, i) => typeof v === 'string' && !v.includes('\u0000') && !LONE_SURROGATE.test(v) && ((out[i] = v), true);
    }
    default: {
      const out = data as Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;
      const [min, max] = INTEGER_RANGE[datatype]!;
      return (v, i) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max && ((out[i] = v), true);
    }
  }
}

function allocate(datatype: Datatype, count: number): TensorData {
  return datatype === 'BYTES' ? new Array<string>(count) : new TYPED_ARRAY_OF[datatype](count);
}

function expectedElement(datatype: Datatype): string {
  if (datatype === 'BYTES') return 'strings of Unicode text without NUL characters or lone surrogates';
  if (datatype === 'BOOL') return 'booleans';
  if (datatype.startsWith('FP')) return 'numbers';
  return `integers in the ${datatype} range`;
}

/**
 * The hot path for float inputs in nested arrays: plain loops, no per-element closure. Returns the
 * offset reached, or -1 at the first ragged row or non-number (the general walk then reports it).
 */
function fillFloats(node: unknown[], depth: number, shape: readonly number[], out: Float32Array | Float64Array, offset: number): number {
  if (node.length !== shape[depth]) return -1;
  if (depth === shape.length - 1) {
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (typeof v !== 'number') return -1;
      out[offset++] = v;
    }
    return offset;
  }
  for (let i = 0; i < node.length; i++) {
    const child = node[i];
    if (!Array.isArray(child)) return -1;
    offset = fillFloats(child, depth + 1, shape, out, offset);
    if (offset < 0) return -1;
  }
  return offset;
}

/** The flat twin of fillFloats: true when every element was a number and is written. */
function fillFlatFloats(elements: unknown[], out: Float32Array | Float64Array): boolean {
  for (let i = 0; i < elements.length; i++) {
    const v = elements[i];
    if (typeof v !== 'number') return false;
    out[i] = v;
  }
  return true;
}

/**
 * Decodes one input given as a nested array or `{shape, data}` into a tensor of `datatype`.
 * `declared` is the signature's shape (-1 = any size): rank and fixed dims are checked against it
 * before anything is allocated, and nesting deeper than its rank is refused.
 */
export function tensorFromJson(name: string, datatype: Datatype, value: unknown, declared?: readonly number[]): Tensor {
  let shape: number[];
  let flat = false;
  let source: unknown = value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const { shape: rawShape, data } = value as { shape?: unknown; data?: unknown };
    if (!Array.isArray(rawShape) || rawShape.length > MAX_RANK || !rawShape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalid(`input '${name}': "shape" must be an array of non-negative integers (at most ${MAX_RANK})`);
    }
    if (!Array.isArray(data)) throw invalid(`input '${name}': "data" must be an array`);
    shape = rawShape as number[];
    source = data;
    flat = true;
  } else if (Array.isArray(value)) {
    shape = nestedShape(name, value, declared);
  } else {
    // A scalar input is a rank-0 tensor.
    shape = [];
    source = [value];
    flat = true;
  }
  if (declared) validateShape({ name, datatype, shape: declared }, shape);

  const count = elementCount(shape);
  let elements: unknown[] | undefined;
  if (flat) {
    // Flat data may itself be nested (row-major); flatten it once before counting.
    elements = flatElements(name, source as unknown[], Math.max(1, shape.length));
    // Checked before allocating: a declared shape must not size memory the data does not back.
    if (elements.length !== count) {
      throw invalid(`input '${name}': shape [${shape.join(',')}] needs ${count} elements, got ${elements.length}`);
    }
  } else if (shape.length > 0) {
    checkRows(name, source, shape, 0, []);
  }
  const data = allocate(datatype, count);
  const floats = datatype === 'FP32' || datatype === 'FP64';
  if (elements && floats && fillFlatFloats(elements, data as Float32Array | Float64Array)) return { datatype, shape, data };
  if (!elements && floats && fillFloats(source as unknown[], 0, shape, data as Float32Array, 0) === count) {
    return { datatype, shape, data };
  }
  const write = elementWriter(datatype, data);

  if (elements) {
    for (let i = 0; i < count; i++) {
      if (!write(elements[i], i)) {
        throw invalid(`input '${name}': element ${i} is ${jsonPreview(elements[i])}; ${datatype} expects ${expectedElement(datatype)}`);
      }
    }
    return { datatype, shape, data };
  }

  // The general walk: every datatype, and the exact position of a wrong element (at most rank deep).
  let index = 0;
  const path: number[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (!write(node, index)) {
        throw invalid(
          `input '${name}': element at [${path.join(',')}] is ${jsonPreview(node)}; ${datatype} expects ${expectedElement(datatype)}`,
        );
      }
      index++;
      return;
    }
    // checkRows has seen every row: here `node` is an array of shape[depth] items.
    const row = node as unknown[];
    for (let i = 0; i < row.length; i++) {
      path.push(i);
      walk(row[i], depth + 1);
      path.pop();
    }
  };
  walk(source, 0);
  return { datatype, shape, data };
}

function jsonElement(datatype: Datatype, data: TensorData): (i: number) => unknown {
  switch (datatype) {
    case 'BOOL':
      return (i) => (data as Uint8Array)[i] !== 0;
    case 'FP16':
      return (i) => fromHalfBits((data as Uint16Array)[i]!);
    case 'INT64':
    case 'UINT64':
      return (i) => {
        const v = (data as BigInt64Array)[i]!;
        // Beyond 2^53 a JSON number would silently lose digits; a string keeps them.
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
      };
    case 'FP32':
    case 'FP64':
      // JSON has no NaN/Infinity; null marks them rather than breaking the document.
      return (i) => {
        const v = (data as Float32Array)[i]!;
        return Number.isFinite(v) ? v : null;
      };
    default:
      return (i) => (data as ArrayLike<unknown>)[i];
  }
}

const FAST_JOIN: ReadonlySet<Datatype> = new Set(['FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'UINT8', 'UINT16', 'UINT32']);

/** Elements [start, end) as JSON text, comma separated. */
function elementsText(tensor: Tensor, start: number, end: number): string {
  const { datatype, data } = tensor;
  if (FAST_JOIN.has(datatype)) {
    const view = (data as Float32Array).subarray(start, end);
    // join() prints each number exactly as JSON.stringify would; only NaN/Infinity differ.
    if (datatype !== 'FP32' && datatype !== 'FP64') return view.join(',');
    let finite = true;
    for (let i = 0; i < view.length; i++) {
      if (!Number.isFinite(view[i]!)) {
        finite = false;
        break;
      }
    }
    if (finite) return view.join(',');
  }
  const read = jsonElement(datatype, data);
  let text = '';
  for (let i = start; i < end; i++) text += (i > start ? ',' : '') + JSON.stringify(read(i));
  return text;
}

/**
 * The tensor as JSON text (nested arrays, or a flat array with `flat`), written directly: for
 * numeric outputs this is several times faster than building nested arrays for JSON.stringify.
 */
export function tensorToJsonText(tensor: Tensor, flat = false): string {
  const { shape } = tensor;
  const count = elementCount(shape);
  if (flat) return `[${elementsText(tensor, 0, count)}]`;
  if (shape.length === 0) return elementsText(tensor, 0, 1);
  const innermost = shape[shape.length - 1]!;
  let offset = 0;
  const build = (depth: number): string => {
    const size = shape[depth]!;
    if (depth === shape.length - 1) {
      const text = `[${elementsText(tensor, offset, offset + innermost)}]`;
      offset += innermost;
      return text;
    }
    const parts = new Array<string>(size);
    for (let i = 0; i < size; i++) parts[i] = build(depth + 1);
    return `[${parts.join(',')}]`;
  };
  return build(0);
}
