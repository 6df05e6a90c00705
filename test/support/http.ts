/**
 * HTTP for tests: requests sent exactly as given over node:http (fetch and `new URL()` resolve
 * `..` and `%2E` segments before anything is sent), and one way to check an error answer in
 * either of the gateway's two error shapes.
 */
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';

export interface WireResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/**
 * Sends `method path` to `baseUrl` with exactly these headers (no content-type unless given) and
 * bytes. The path goes on the request line byte for byte: no normalisation of dot segments.
 */
export function send(baseUrl: string, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<WireResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ hostname, port, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** The body of a node:http answer as JSON. */
export function json(response: WireResponse): any {
  return JSON.parse(response.body.toString('utf8'));
}

type AnyResponse = Response | WireResponse;

async function statusAndBody(response: AnyResponse | Promise<AnyResponse>): Promise<{ status: number; body: any; text: string }> {
  const settled = await response;
  const text = settled instanceof Response ? await settled.text() : settled.body.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: settled.status, body, text };
}

/**
 * Checks a native error answer: this status, `{"error": {"code", "message", "details"?}}` with
 * this code, and (if given) a message containing or matching `message`. Returns the error object.
 */
export async function expectError(
  response: AnyResponse | Promise<AnyResponse>,
  status: number,
  code: string,
  message?: string | RegExp,
): Promise<{ code: string; message: string; details?: unknown }> {
  const { status: got, body, text } = await statusAndBody(response);
  expect({ status: got, code: body?.error?.code }, text).toEqual({ status, code });
  expect(typeof body.error.message, text).toBe('string');
  if (typeof message === 'string') expect(body.error.message).toContain(message);
  else if (message) expect(body.error.message).toMatch(message);
  return body.error;
}

/**
 * Checks an Open Inference Protocol error answer: this status and exactly `{"error": "<message>"}`,
 * the message containing or matching `message` if given. Returns the message.
 */
export async function expectV2Error(response: AnyResponse | Promise<AnyResponse>, status: number, message?: string | RegExp): Promise<string> {
  const { status: got, body, text } = await statusAndBody(response);
  expect({ status: got, keys: body === undefined ? undefined : Object.keys(body), type: typeof body?.error }, text).toEqual({
    status,
    keys: ['error'],
    type: 'string',
  });
  if (typeof message === 'string') expect(body.error).toContain(message);
  else if (message) expect(body.error).toMatch(message);
  return body.error;
}
