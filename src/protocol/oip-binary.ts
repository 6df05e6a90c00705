/**
 * Element encoding of the binary tensor data extension: little-endian, row-major, no padding;
 * BOOL one byte (0/1); BYTES one 4-byte little-endian length then the bytes, per element.
 *
 * Fixed-size tensors are never parsed element by element: an input becomes a typed array over
 * the request body's memory (a view when its offset is aligned for the element size, else one
 * copy), and an output is written as a Buffer over its typed array's memory.
 */
import { isUtf8 } from 'node:buffer';
import { SwitchyardError } from '../errors.js';
import { elementCount, TYPED_ARRAY_OF, type Datatype, type Tensor, type TensorData } from '../tensor.js';

// Typed arrays use the host's byte order; the wire is little-endian. Every platform Node and
// onnxruntime-node ship for (x64, arm64) is little-endian, so this only guards an exotic port.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('the binary tensor data extension needs a little-endian host');
}

function invalid(message: string): SwitchyardError {
  return new SwitchyardError('INVALID_INPUT', message);
}

type FixedDatatype = Exclude<Datatype, 'BYTES'>;
type FixedConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Exclude<TensorData, string[]>;
type FixedAllocator = new (length: number) => Exclude<TensorData, string[]>;

/**
 * The bytes of one BYTES element as a string. onnxruntime-node string tensors are JS strings that
 * end at a NUL, so only NUL-free UTF-8 round-trips; anything else is refused rather than altered.
 */
export function utf8Element(name: string, bytes: Buffer, index: number): string {
  if (!isUtf8(bytes)) {
    throw invalid(
      `input '${name}': BYTES element ${index} is not valid UTF-8; onnxruntime-node string tensors carry text only, so arbitrary bytes cannot be passed (send UINT8 for binary data)`,
    );
  }
  if (bytes.includes(0)) throw invalid(nulMessage(name, index));
  return bytes.toString('utf8');
}

function nulMessage(name: string, index: number): string {
  return `input '${name}': BYTES element ${index} contains a NUL byte; onnxruntime-node string tensors end at the first NUL, so it would be cut short`;
}

/** Splits length-prefixed BYTES elements; the count must match the shape and every byte must be used. */
export function decodeBytesElements(name: string, bytes: Buffer, count: number): string[] {
  // Each element takes at least its 4-byte length: checked before an array is sized by the shape.
  if (count * 4 > bytes.length) {
    throw invalid(`input '${name}': shape holds ${count} BYTES elements, which need at least ${count * 4} bytes (a 4-byte length each), but its binary data has ${bytes.length}`);
  }
  const out = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.length) {
      throw invalid(`input '${name}': binary BYTES data ends after ${i} of ${count} elements (each element is a 4-byte length then its bytes)`);
    }
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (offset + length > bytes.length) {
      throw invalid(`input '${name}': BYTES element ${i} declares ${length} bytes but only ${bytes.length - offset} remain in its binary data`);
    }
    out[i] = utf8Element(name, bytes.subarray(offset, offset + length), i);
    offset += length;
  }
  if (offset !== bytes.length) {
    throw invalid(`input '${name}': ${bytes.length - offset} bytes left over after the ${count} BYTES elements its shape holds`);
  }
  return out;
}

/**
 * One input from its binary data. `bytes` is a slice of the request body: for fixed-size types it
 * must hold exactly shape × element size bytes.
 */
export function tensorFromBinary(name: string, datatype: Datatype, shape: readonly number[], bytes: Buffer): Tensor {
  const count = elementCount(shape);
  if (datatype === 'BYTES') return { datatype, shape, data: decodeBytesElements(name, bytes, count) };
  const Typed = TYPED_ARRAY_OF[datatype as FixedDatatype];
  const size = Typed.BYTES_PER_ELEMENT;
  if (bytes.length !== count * size) {
    throw invalid(
      `input '${name}': shape [${shape.join(',')}] of ${datatype} needs ${count * size} bytes (${count} × ${size}), but its binary data has ${bytes.length}`,
    );
  }
  if (datatype === 'BOOL') {
    // One byte per element, 0 or 1: any other byte is no boolean (onnxruntime would take it as true).
    const bad = bytes.findIndex((byte) => byte > 1);
    if (bad >= 0) throw invalid(`input '${name}': BOOL element ${bad} is the byte ${bytes[bad]}; BOOL binary data holds 0 or 1 per element`);
  }
  return { datatype, shape, data: typedArrayOver(datatype as FixedDatatype, bytes, count) };
}

/** A typed array over `bytes` without parsing: a view when aligned, else one copy. */
export function typedArrayOver(datatype: FixedDatatype, bytes: Buffer, count: number): Exclude<TensorData, string[]> {
  const Typed = TYPED_ARRAY_OF[datatype];
  if (bytes.byteOffset % Typed.BYTES_PER_ELEMENT === 0) {
    return new (Typed as unknown as FixedConstructor)(bytes.buffer, bytes.byteOffset, count);
  }
  const copy = new (Typed as unknown as FixedAllocator)(count);
  new Uint8Array(copy.buffer, 0, bytes.length).set(bytes);
  return copy;
}

/** Byte length of a tensor in the binary encoding. */
export function binaryByteLength(tensor: Tensor): number {
  const { data } = tensor;
  if (Array.isArray(data)) {
    let total = 4 * data.length;
    for (const element of data) total += Buffer.byteLength(element, 'utf8');
    return total;
  }
  return data.byteLength;
}

/**
 * A tensor's binary encoding. Fixed-size data is returned as a Buffer over the typed array's own
 * memory (no copy); BYTES are length-prefixed into one new Buffer.
 */
export function tensorToBinary(tensor: Tensor): Buffer {
  const { data } = tensor;
  if (!Array.isArray(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.allocUnsafe(binaryByteLength(tensor));
  let offset = 0;
  for (const element of data) {
    const written = out.write(element, offset + 4, 'utf8');
    out.writeUInt32LE(written, offset);
    offset += 4 + written;
  }
  return out;
}

/**
 * A binary tensor data body: the JSON header, then each tensor's bytes in order (the extension's
 * framing; the header's length goes in Inference-Header-Content-Length). One copy of each chunk.
 */
export function frameBinaryBody(json: string, chunks: readonly Buffer[], binaryLength: number, allocate: (size: number) => Buffer = Buffer.allocUnsafe): { body: Buffer; headerLength: number } {
  const headerLength = Buffer.byteLength(json, 'utf8');
  const body = allocate(headerLength + binaryLength);
  body.write(json, 0, 'utf8');
  let offset = headerLength;
  for (const chunk of chunks) {
    chunk.copy(body, offset);
    offset += chunk.length;
  }
  return { body, headerLength };
}
