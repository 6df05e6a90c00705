/**
 * The Open Inference Protocol on the wire, written from the protocol documents (KServe's
 * required_api / open-inference-protocol REST spec and Triton's binary tensor data extension),
 * not from Switchyard's code: requests are built and responses taken apart byte by byte.
 */
// The transport is the suite's one node:http client: exact bytes, headers and path.
export { json, send, type WireResponse } from '../support/http.js';
import type { WireResponse } from '../support/http.js';
import { json } from '../support/http.js';

/** `$inference_request` JSON followed by binary tensor data, and the header length to send. */
export function binaryRequest(header: unknown, binaries: readonly Uint8Array[]): { body: Buffer; headers: Record<string, string> } {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  return {
    body: Buffer.concat([headerBytes, ...binaries.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))]),
    headers: { 'Inference-Header-Content-Length': String(headerBytes.length), 'Content-Type': 'application/octet-stream' },
  };
}

export interface ParsedInferResponse {
  readonly json: any;
  /** Binary data of each output that has a binary_data_size, by output name. */
  readonly binary: Map<string, Buffer>;
}

/**
 * Splits a response as the extension describes: Inference-Header-Content-Length bytes of JSON,
 * then each output's binary data in the order the JSON lists the outputs.
 */
export function parseInferResponse(response: WireResponse): ParsedInferResponse {
  const raw = response.headers['inference-header-content-length'];
  if (raw === undefined) return { json: json(response), binary: new Map() };
  const headerLength = Number(raw);
  const parsed = JSON.parse(response.body.subarray(0, headerLength).toString('utf8'));
  const binary = new Map<string, Buffer>();
  let offset = headerLength;
  for (const output of parsed.outputs as Array<{ name: string; parameters?: { binary_data_size?: number } }>) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary.set(output.name, response.body.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== response.body.length) throw new Error(`response has ${response.body.length - offset} unexplained bytes after the binary outputs`);
  return { json: parsed, binary };
}

/** BYTES elements as the extension encodes them: a 4-byte little-endian length, then the bytes. */
export function serializeBytes(elements: readonly (string | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [];
  for (const element of elements) {
    const bytes = typeof element === 'string' ? Buffer.from(element, 'utf8') : Buffer.from(element);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length, 0);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

/** Little-endian bytes of a typed array (the host is little-endian on every supported platform). */
export function bytesOf(array: ArrayBufferView): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}
