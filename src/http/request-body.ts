/**
 * Reading request bodies on the hot path. Under @hono/node-server the body is read straight from
 * Node's IncomingMessage: going through the web Request (as hono's bodyLimit and c.req.json do)
 * builds an undici Request, a web stream and two AbortSignals per request, which cost more than a
 * small model's whole inference. The size limit is enforced here, from Content-Length up front
 * and from the bytes as they arrive.
 *
 * A large body with a Content-Length is read straight into an ArrayBuffer of its own, sized once
 * (no list of chunks to concatenate), and placed so that a given offset (where binary tensor data
 * starts) is 8-byte aligned: tensors can then be views into the body, and since nothing else lives
 * in that buffer, the runtime may move it to its thread whole instead of copying (bodyOwnsBuffer).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { SwitchyardError } from '../errors.js';
import { bodyBuffers } from './body-buffer-pool.js';
import type { ClientConnection } from '../scheduling/inference-scheduler.js';

function tooLarge(limit: number): SwitchyardError {
  return new SwitchyardError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`, { details: { limit } });
}

/** The Node response under @hono/node-server; undefined for in-process requests (app.request). */
export function outgoingOf(c: Context): ServerResponse | undefined {
  return (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
}

function incomingOf(c: Context): IncomingMessage | undefined {
  const env = c.env as { incoming?: IncomingMessage } | undefined;
  return env?.incoming;
}

/**
 * Bodies of at least this many bytes (by Content-Length) are read into a buffer of their own.
 * Smaller ones usually arrive in one chunk, a slice of the socket's read buffer that costs no
 * allocation; copying their tensors costs less than a buffer of their own each.
 */
export const OWN_BUFFER_BYTES = 16 * 1024;

/** Buffers readBody allocated for one body alone (see bodyOwnsBuffer). */
const ownBuffers = new WeakSet<ArrayBufferLike>();

/**
 * True when `body` came from readBody into an ArrayBuffer of its own: no other data shares that
 * buffer, so its tensors may be moved (transferred) to another thread with it once it is no longer read.
 */
export function bodyOwnsBuffer(body: Buffer): boolean {
  return ownBuffers.has(body.buffer);
}

export interface ReadBodyOptions {
  /**
   * Offset in the body that should be 8-byte aligned in memory (where binary data starts, e.g.
   * Inference-Header-Content-Length), for bodies read into a buffer of their own. Default 0.
   */
  readonly alignAt?: number;
}

/**
 * A body of `declared` bytes, read into a buffer of its own (from bodyBuffers: the route gives it
 * back when done) with `alignAt` 8-byte aligned. Not cleared: the body writes every byte first.
 */
function ownBody(declared: number, alignAt: number): Buffer {
  const body = bodyBuffers.take(declared, (8 - (alignAt % 8)) % 8);
  ownBuffers.add(body.buffer);
  return body;
}

function readIncoming(incoming: IncomingMessage, limit: number, declared: number, alignAt: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Sized up front when the length is known and large; chunks then go straight into it.
    const target = declared >= OWN_BUFFER_BYTES ? ownBody(declared, alignAt) : undefined;
    const onData = (chunk: Buffer): void => {
      const end = size + chunk.length;
      if (end > limit) {
        cleanup();
        incoming.resume(); // drain the rest so the connection can still carry the 413
        reject(tooLarge(limit));
        return;
      }
      if (target && end <= target.length) chunk.copy(target, size);
      else chunks.push(chunk);
      size = end;
    };
    const onEnd = (): void => {
      cleanup();
      if (target && size === target.length) resolve(target);
      // Without a usable length (Node's parser holds a body to its Content-Length, so rarely): the chunks.
      else if (target) resolve(Buffer.concat([target.subarray(0, Math.min(size, target.length)), ...chunks], size));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new SwitchyardError('INVALID_REQUEST', `the body could not be read: ${error.message}`));
    };
    const onAborted = (): void => {
      cleanup();
      reject(new SwitchyardError('REQUEST_CANCELLED', 'the client closed the connection while sending the body'));
    };
    const cleanup = (): void => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('aborted', onAborted);
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('aborted', onAborted);
  });
}

/** The raw body, at most `limit` bytes (413 beyond). */
export async function readBody(c: Context, limit: number, options: ReadBodyOptions = {}): Promise<Buffer> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const incoming = incomingOf(c);
  if (incoming && !incoming.readableEnded) {
    const alignAt = options.alignAt !== undefined && Number.isSafeInteger(options.alignAt) && options.alignAt >= 0 ? options.alignAt : 0;
    return readIncoming(incoming, limit, Number.isSafeInteger(declared) && declared >= 0 ? declared : 0, alignAt);
  }
  // In-process requests (app.request in tests) have no IncomingMessage.
  const buffer = Buffer.from(await c.req.raw.arrayBuffer());
  if (buffer.length > limit) throw tooLarge(limit);
  return buffer;
}

export async function readJsonBody(c: Context, limit: number): Promise<unknown> {
  const body = await readBody(c, limit);
  try {
    return parseJsonBody(body);
  } finally {
    // The parsed document holds copies (strings, numbers), nothing of the bytes.
    bodyBuffers.giveBack(body);
  }
}

/** A body read with readBody, parsed (400 INVALID_JSON when it is empty or not JSON). */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw new SwitchyardError('INVALID_JSON', 'the body is empty; send a JSON object');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new SwitchyardError('INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The client's connection, without an AbortSignal per request (Node makes each one transferable,
 * which is costly): the response closing before it was fully written means the client is gone.
 */
export function clientConnection(c: Context): ClientConnection {
  const outgoing = outgoingOf(c);
  if (!outgoing) {
    const signal = c.req.raw.signal;
    return {
      get gone() {
        return signal.aborted;
      },
      onGone(listener) {
        signal.addEventListener('abort', listener, { once: true });
        return () => signal.removeEventListener('abort', listener);
      },
    };
  }
  const isGone = (): boolean => !outgoing.writableFinished && (outgoing.destroyed || outgoing.socket === null || outgoing.socket.destroyed);
  return {
    get gone() {
      return isGone();
    },
    onGone(listener) {
      const onClose = (): void => {
        if (!outgoing.writableFinished) listener();
      };
      outgoing.once('close', onClose);
      return () => outgoing.off('close', onClose);
    },
  };
}
