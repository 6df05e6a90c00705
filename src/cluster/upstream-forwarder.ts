/**
 * The forwarding hop: one inference sent to another node or a V2 backend over the Open Inference
 * Protocol with the binary tensor data extension both ways (tensors are never re-encoded as JSON),
 * on a keep-alive undici Pool per upstream with a connection cap. The deadline travels as the time
 * that is left (`x-request-timeout-ms`), the request id as `x-request-id`; every attempt is bounded
 * by the deadline and FORWARD_TIMEOUT_MS, so a silent upstream never hangs a client.
 *
 * A failure says what kind it was (UpstreamFailure, for health tracking) and whether any byte of
 * the answer had arrived (only then is a retry elsewhere free of duplicates). A 4xx from the
 * upstream is the client's error and is passed through; a 504 (the deadline passed there) too.
 */
import { Pool } from 'undici';
import { SwitchyardError, messageOf, type ErrorCode } from '../errors.js';
import { encodeInferRequest } from '../protocol/oip-request.js';
import { decodeInferResponse } from '../protocol/oip-response.js';
import { isDatatype, type ModelSignature, type Tensor, type TensorInfo } from '../tensor.js';
import type { UpstreamFailure, UpstreamTarget } from './cluster-types.js';

export interface UpstreamForwarderOptions {
  /** Keep-alive connections per upstream at most (FORWARD_CONNECTIONS). Default 64. */
  readonly connections?: number;
  /** Longest one attempt may take when the deadline is later or absent (FORWARD_TIMEOUT_MS). Default 30 s. */
  readonly timeoutMs?: number;
  /** How long an idle connection is kept open. Default 4 s (below Node's server default of 5 s). */
  readonly keepAliveMs?: number;
}

export interface ForwardRequest {
  readonly model: string;
  readonly version: number;
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** Output names to return; all outputs when absent. */
  readonly outputs?: readonly string[] | undefined;
  /** Epoch ms: sent as the time left; already passed = 504 here, nothing sent. */
  readonly deadline?: number | undefined;
  readonly requestId?: string | undefined;
  /** Aborts the attempt (the client went away): REQUEST_CANCELLED, not the upstream's failure. */
  readonly signal?: AbortSignal | undefined;
}

export interface ForwardResult {
  readonly outputs: Record<string, Tensor>;
}

/**
 * A forwarded attempt that did not give outputs. `failure` is set when it counts against the
 * upstream's health (undefined: the upstream answered properly, e.g. a 4xx for a bad input, or the
 * client's own deadline or disconnect ended it). `retryable`: no byte of the answer had arrived,
 * or the upstream answered 503 or 404 (it says it did not run the request: not ready, draining,
 * or the version gone there), so another candidate may be tried without running it twice.
 */
export class UpstreamError extends SwitchyardError {
  readonly target: string;
  readonly failure: UpstreamFailure | undefined;
  readonly responseStarted: boolean;
  readonly retryable: boolean;
  /** The upstream's own HTTP status, when it answered. */
  readonly upstreamStatus: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    fields: { target: string; failure?: UpstreamFailure | undefined; responseStarted: boolean; retryable?: boolean; upstreamStatus?: number | undefined; retryAfterSeconds?: number | undefined; cause?: unknown },
  ) {
    super(code, message, {
      ...(fields.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: fields.retryAfterSeconds }),
      ...(fields.cause === undefined ? {} : { cause: fields.cause }),
      details: { served_by: fields.target },
    });
    this.name = 'UpstreamError';
    this.target = fields.target;
    this.failure = fields.failure;
    this.responseStarted = fields.responseStarted;
    this.retryable = fields.retryable ?? !fields.responseStarted;
    this.upstreamStatus = fields.upstreamStatus;
  }
}

const DEFAULT_CONNECTIONS = 64;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_KEEP_ALIVE_MS = 4_000;
/** How long past the deadline the answer of an upstream that enforces it is still awaited. */
const DEADLINE_GRACE_MS = 250;
/** Metadata is small and off the hot path: a short bound of its own. */
const METADATA_TIMEOUT_MS = 5_000;

/** Socket-level error codes by what they mean for the attempt. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);

/** The catalog code a 4xx from an upstream is passed on as (same status). */
const CLIENT_ERROR_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'INVALID_INPUT',
  404: 'VERSION_NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  499: 'REQUEST_CANCELLED',
};

export class UpstreamForwarder {
  readonly #connections: number;
  readonly #timeoutMs: number;
  readonly #keepAliveMs: number;
  readonly #pools = new Map<string, Pool>();
  readonly #inFlight = new Map<string, number>();
  #closed = false;

  constructor(options: UpstreamForwarderOptions = {}) {
    this.#connections = options.connections ?? DEFAULT_CONNECTIONS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
  }

  /** Attempts this process has open to a target now (its share of the target's load). */
  inFlight(targetId: string): number {
    return this.#inFlight.get(targetId) ?? 0;
  }

  /** Every target with an attempt open, and how many. */
  get totalInFlight(): number {
    let total = 0;
    for (const count of this.#inFlight.values()) total += count;
    return total;
  }

  async forward(target: UpstreamTarget, request: ForwardRequest): Promise<ForwardResult> {
    const { model, version } = request;
    const where = describeTarget(target);
    const now = Date.now();
    const left = request.deadline === undefined ? undefined : request.deadline - now;
    if (left !== undefined && left <= 0) {
      throw new SwitchyardError('DEADLINE_EXCEEDED', `the request deadline passed before it could be forwarded to ${where}`);
    }
    const byDeadline = left !== undefined && left <= this.#timeoutMs;
    // The upstream enforces the deadline itself (and counts it); this timer is the backstop, a
    // little later, so that its own 504 arrives rather than a disconnect it would see as a cancel.
    const budget = byDeadline ? left + DEADLINE_GRACE_MS : this.#timeoutMs;
    const encoded = encodeInferRequest({ id: request.requestId, inputs: request.inputs, outputs: request.outputs });
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(encoded.headerLength),
    };
    // The time left, whole ms and at least 1 (0 is no timeout at all on the other side).
    if (left !== undefined) headers['x-request-timeout-ms'] = String(Math.max(1, Math.floor(left)));
    if (request.requestId !== undefined) headers['x-request-id'] = request.requestId;

    // Before the attempt is counted: a closed forwarder (shutting down) is no failure of the target.
    const pool = this.#pool(target.baseUrl);
    const abort = new AbortController();
    let timedOut = false;
    let cancelled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, budget);
    const onClientGone = () => {
      cancelled = true;
      abort.abort();
    };
    if (request.signal?.aborted) onClientGone();
    request.signal?.addEventListener('abort', onClientGone, { once: true });
    let responseStarted = false;
    this.#inFlight.set(target.id, this.inFlight(target.id) + 1);
    try {
      const response = await pool.request({
        path: `/v2/models/${encodeURIComponent(model)}/versions/${version}/infer`,
        method: 'POST',
        headers,
        body: encoded.body,
        signal: abort.signal,
        // Our own timer bounds the attempt; undici's would fire on their own schedule.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      responseStarted = true;
      const body = Buffer.from(await response.body.arrayBuffer());
      const status = response.statusCode;
      if (status !== 200) throw statusError(target, where, status, body, header(response.headers, 'retry-after'));
      const headerLength = header(response.headers, 'inference-header-content-length');
      let decoded;
      try {
        decoded = decodeInferResponse(body, headerLength === undefined ? undefined : parseLength(headerLength));
      } catch (error) {
        throw new UpstreamError('BAD_GATEWAY', `${where} answered something that is not an inference response: ${messageOf(error)}`, {
          target: target.id,
          failure: 'bad-response',
          responseStarted: true,
          upstreamStatus: status,
        });
      }
      const missing = request.outputs?.find((name) => decoded.outputs[name] === undefined);
      if (missing !== undefined) {
        throw new UpstreamError('BAD_GATEWAY', `${where} answered without the requested output '${missing}'`, {
          target: target.id,
          failure: 'bad-response',
          responseStarted: true,
          upstreamStatus: status,
        });
      }
      return { outputs: decoded.outputs };
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      if (cancelled) {
        throw new SwitchyardError('REQUEST_CANCELLED', `the client went away while the request was forwarded to ${where}`);
      }
      if (timedOut) {
        // The client's own deadline is not the upstream's fault; FORWARD_TIMEOUT_MS is.
        if (byDeadline) {
          throw new UpstreamError('DEADLINE_EXCEEDED', `the request deadline passed while ${where} was working on it`, {
            target: target.id,
            responseStarted,
            retryable: false,
          });
        }
        throw new UpstreamError('BAD_GATEWAY', `${where} did not answer within ${this.#timeoutMs} ms (FORWARD_TIMEOUT_MS)`, {
          target: target.id,
          failure: 'timeout',
          responseStarted,
          retryable: false,
          cause: error,
        });
      }
      const failure = classify(error, responseStarted);
      const why = failure === 'connect' ? 'could not be connected to' : failure === 'reset' ? 'closed the connection' : 'answered garbage';
      throw new UpstreamError('BAD_GATEWAY', `${where} ${why} (${errorCode(error) ?? messageOf(error)})`.replace(/\s+/g, ' '), {
        target: target.id,
        failure,
        // Garbage on the wire means bytes arrived, even before a parsed status line.
        responseStarted: responseStarted || failure === 'bad-response',
        cause: error,
      });
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onClientGone);
      const count = this.inFlight(target.id) - 1;
      if (count > 0) this.#inFlight.set(target.id, count);
      else this.#inFlight.delete(target.id);
    }
  }

  /** A version's signature from the target's V2 metadata endpoint (`/v2/models/<m>/versions/<v>`). */
  async metadata(target: UpstreamTarget, model: string, version: number): Promise<ModelSignature> {
    const where = describeTarget(target);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.min(METADATA_TIMEOUT_MS, this.#timeoutMs));
    try {
      const response = await this.#pool(target.baseUrl).request({
        path: `/v2/models/${encodeURIComponent(model)}/versions/${version}`,
        method: 'GET',
        signal: abort.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const body = Buffer.from(await response.body.arrayBuffer());
      if (response.statusCode !== 200) throw statusError(target, where, response.statusCode, body, header(response.headers, 'retry-after'));
      return parseSignature(body, where, target.id);
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      throw new UpstreamError('BAD_GATEWAY', `the metadata of model '${model}' version ${version} could not be read from ${where} (${errorCode(error) ?? messageOf(error)})`, {
        target: target.id,
        failure: abort.signal.aborted ? 'timeout' : classify(error, false),
        responseStarted: false,
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes a target's pool (it left); open attempts finish first. */
  async forget(baseUrl: string): Promise<void> {
    const pool = this.#pools.get(baseUrl);
    if (!pool) return;
    this.#pools.delete(baseUrl);
    await pool.close().catch(() => undefined);
  }

  /** Closes every pool; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
  }

  #pool(baseUrl: string): Pool {
    if (this.#closed) throw new SwitchyardError('SHUTTING_DOWN', 'the gateway is shutting down and forwards no more requests', { retryAfterSeconds: 1 });
    let pool = this.#pools.get(baseUrl);
    if (!pool) {
      pool = new Pool(baseUrl, { connections: this.#connections, keepAliveTimeout: this.#keepAliveMs, pipelining: 1 });
      this.#pools.set(baseUrl, pool);
    }
    return pool;
  }
}

export function describeTarget(target: UpstreamTarget): string {
  return `${target.kind} ${target.id}${target.kind === 'node' ? ` (${target.baseUrl})` : ''}`;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseLength(raw: string): number {
  if (!/^\d{1,15}$/.test(raw.trim())) throw new Error(`Inference-Header-Content-Length '${raw.slice(0, 40)}' is not a length`);
  return Number(raw.trim());
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** What a socket-level error means; undici wraps some in a `cause`. */
function classify(error: unknown, responseStarted: boolean): UpstreamFailure {
  const codes = [errorCode(error), errorCode((error as { cause?: unknown } | null)?.cause)];
  // What undici's HTTP parser refused (not HTTP at all, a malformed status line or headers).
  if ((error as { name?: unknown } | null)?.name === 'HTTPParserError' || codes.some((code) => code !== undefined && code.startsWith('HPE_'))) return 'bad-response';
  if (!responseStarted && codes.some((code) => code !== undefined && CONNECT_CODES.has(code))) return 'connect';
  if (codes.some((code) => code !== undefined && RESET_CODES.has(code))) return 'reset';
  if (codes.some((code) => code !== undefined && CONNECT_CODES.has(code))) return 'connect';
  return responseStarted ? 'reset' : 'connect';
}

/** The upstream's error message: the V2 `{"error": "..."}`, the native `{"error": {"message"}}`, or its text. */
function upstreamMessage(body: Buffer): string {
  const text = body.toString('utf8', 0, Math.min(body.length, 2_000));
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
    const nested = (parsed.error as { message?: unknown } | undefined)?.message;
    if (typeof nested === 'string') return nested;
  } catch {
    // not JSON: its first characters
  }
  return text.slice(0, 200).replace(/\s+/g, ' ').trim() || '(empty body)';
}

/** A non-200 answer: a 4xx (and 504) passes through; other 5xx are the upstream's failure. */
function statusError(target: UpstreamTarget, where: string, status: number, body: Buffer, retryAfter: string | undefined): UpstreamError {
  const message = upstreamMessage(body);
  if (status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 407) {
    return new UpstreamError(CLIENT_ERROR_CODES[status] ?? 'INVALID_REQUEST', message, {
      target: target.id,
      responseStarted: true,
      // A 404 says the version is gone there (unloaded since its last heartbeat): not run, so it may go elsewhere.
      retryable: status === 404,
      upstreamStatus: status,
      ...(status === 429 ? { retryAfterSeconds: retryAfterSeconds(retryAfter) } : {}),
    });
  }
  if (status === 504) {
    return new UpstreamError('DEADLINE_EXCEEDED', message, { target: target.id, responseStarted: true, retryable: false, upstreamStatus: status });
  }
  return new UpstreamError('BAD_GATEWAY', `${where} answered ${status}: ${message}`, {
    target: target.id,
    failure: status >= 500 ? 'status-5xx' : 'bad-response',
    responseStarted: true,
    // A 503 says the request was not run (not ready, queue full, draining): safe to send elsewhere.
    retryable: status === 503,
    upstreamStatus: status,
  });
}

function retryAfterSeconds(raw: string | undefined): number {
  const seconds = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 1;
}

function parseSignature(body: Buffer, where: string, targetId: string): ModelSignature {
  const bad = (why: string) =>
    new UpstreamError('BAD_GATEWAY', `${where} answered model metadata that cannot be used: ${why}`, { target: targetId, failure: 'bad-response', responseStarted: true });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  const tensors = (value: unknown, what: string): TensorInfo[] => {
    if (!Array.isArray(value)) throw bad(`no "${what}" array`);
    return value.map((item: { name?: unknown; datatype?: unknown; shape?: unknown } | null, index) => {
      if (item === null || typeof item !== 'object' || typeof item.name !== 'string') throw bad(`${what}[${index}] has no name`);
      if (!isDatatype(item.datatype)) throw bad(`${what} '${item.name}' has datatype ${JSON.stringify(item.datatype)}`);
      if (!Array.isArray(item.shape) || !item.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= -1)) throw bad(`${what} '${item.name}' has no valid shape`);
      return { name: item.name, datatype: item.datatype, shape: item.shape as number[] };
    });
  };
  const metadata = parsed as { inputs?: unknown; outputs?: unknown } | null;
  if (metadata === null || typeof metadata !== 'object') throw bad('not an object');
  return { inputs: tensors(metadata.inputs, 'inputs'), outputs: tensors(metadata.outputs, 'outputs') };
}
