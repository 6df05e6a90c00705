/**
 * Reading request bodies on the hot path. Under @hono/node-server the body is read straight from
 * Node's IncomingMessage: going through the web Request (as hono's bodyLimit and c.req.json do)
 * builds an undici Request, a web stream and two AbortSignals per request, which cost more than a
 * small model's whole inference. The size limit is enforced here, from Content-Length up front
 * and from the bytes as they arrive.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { SwitchyardError } from '../errors.js';
import type { ClientConnection } from '../scheduling/inference-scheduler.js';

function tooLarge(limit: number): SwitchyardError {
  return new SwitchyardError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`, { details: { limit } });
}

function incomingOf(c: Context): IncomingMessage | undefined {
  const env = c.env as { incoming?: IncomingMessage } | undefined;
  return env?.incoming;
}

function readIncoming(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        incoming.resume(); // drain the rest so the connection can still carry the 413
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
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
export async function readBody(c: Context, limit: number): Promise<Buffer> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const incoming = incomingOf(c);
  if (incoming && !incoming.readableEnded) return readIncoming(incoming, limit);
  // In-process requests (app.request in tests) have no IncomingMessage.
  const buffer = Buffer.from(await c.req.raw.arrayBuffer());
  if (buffer.length > limit) throw tooLarge(limit);
  return buffer;
}

export async function readJsonBody(c: Context, limit: number): Promise<unknown> {
  return parseJsonBody(await readBody(c, limit));
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
  const env = c.env as { outgoing?: ServerResponse } | undefined;
  const outgoing = env?.outgoing;
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
