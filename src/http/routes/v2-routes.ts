/**
 * Open Inference Protocol (KServe V2) endpoints as Triton serves them, so existing Triton and
 * KServe clients work unchanged: health, server and model metadata, model readiness, inference
 * (JSON, binary tensor data, raw binary), statistics and the model repository extension.
 * Thin on purpose: validate the path, resolve the version, decode, schedule, encode. Errors are
 * answered `{"error": "..."}` by v2-error-response.ts (mounted in create-http-app.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { Hono, type Context } from 'hono';
import { SwitchyardError } from '../../errors.js';
import type { Tensor } from '../../tensor.js';
import { decodeInferRequest, parseHeaderLength } from '../../protocol/oip-request.js';
import { encodeInferResponse } from '../../protocol/oip-response.js';
import { modelStat, type ModelStat } from '../../protocol/oip-stats.js';
import { parseVersion } from '../../repository/model-name.js';
import { adminAuth } from '../middleware/admin-auth.js';
import { toSwitchyardError } from '../error-response.js';
import type { HttpServices } from '../http-services.js';
import { assertModelExists, decodeForVersion, servingSignature } from '../model-lookup.js';
import { bodyBuffers } from '../body-buffer-pool.js';
import { bodyOwnsBuffer, clientConnection, outgoingOf, readBody } from '../request-body.js';
import { servedByHeader } from '../served-by-header.js';
import { requestIdOf } from '../middleware/request-id.js';
import { assertModelName, assertVersionSpec, deadlineFromTimeout, deadlineFromTimeoutMicros } from '../request-params.js';
import { loadModel, repositoryIndex, unloadModel } from './v2-repository-handlers.js';

/** The platform every model reports: ONNX files run by onnxruntime, Triton's name for it. */
export const V2_PLATFORM = 'onnxruntime_onnx';
export const V2_EXTENSIONS = ['binary_tensor_data', 'model_repository', 'statistics'] as const;

function packageVersion(): string {
  // src/http/routes/ in development, dist/src/http/routes/ when built: walk up to the project's package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'switchyard' && pkg.version) return pkg.version;
    } catch {
      // not here; one level up
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

const SERVER_METADATA = JSON.stringify({ name: 'switchyard', version: packageVersion(), extensions: V2_EXTENSIONS });

function json(body: unknown, status = 200): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** A body that may be empty (the repository extension's); otherwise a JSON object. */
async function optionalJsonObject(c: Context, limit: number): Promise<Record<string, unknown>> {
  const body = await readBody(c, limit);
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new SwitchyardError('INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SwitchyardError('INVALID_REQUEST', 'the body must be a JSON object (or empty)');
  }
  return parsed as Record<string, unknown>;
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

/**
 * Request bodies compressed as Triton's clients can send them (Content-Encoding gzip or deflate),
 * inflated up to the body limit.
 */
async function decodeContentEncoding(encoding: string | undefined, body: Buffer, limit: number): Promise<Buffer> {
  const name = encoding?.trim().toLowerCase();
  if (name === undefined || name === '' || name === 'identity') return body;
  if (name !== 'gzip' && name !== 'deflate') {
    throw new SwitchyardError('INVALID_REQUEST', `Content-Encoding '${encoding}' is not supported; use gzip, deflate or none`);
  }
  try {
    return await (name === 'gzip' ? gunzip : inflate)(body, { maxOutputLength: limit });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SwitchyardError('PAYLOAD_TOO_LARGE', `the decompressed body is larger than ${limit} bytes`, { details: { limit } });
    }
    throw new SwitchyardError('INVALID_REQUEST', `the ${name} body could not be decompressed: ${(error as Error).message}`);
  }
}

function hasMovable(inputs: Readonly<Record<string, Tensor>>): boolean {
  for (const name in inputs) if (inputs[name]!.movable) return true;
  return false;
}

/** The buffers of a request's movable inputs (views of its body), back in the body pool, each once. */
function adoptMovedBodies(inputs: Readonly<Record<string, Tensor>>): void {
  let previous: ArrayBufferLike | undefined;
  for (const name in inputs) {
    const { data, movable } = inputs[name]!;
    if (!movable || Array.isArray(data) || data.buffer === previous) continue;
    previous = data.buffer;
    bodyBuffers.adopt(data);
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

export function v2Routes(services: HttpServices): Hono {
  const app = new Hono();

  /** The version a path names: an integer, an alias, or (none) the `default` route. */
  const resolveVersion = async (model: string, spec: string | undefined): Promise<number> => {
    assertModelExists(services, model);
    if (spec !== undefined) assertVersionSpec(spec);
    return (await services.resolver.resolve(model, spec)).version;
  };

  app.get('/v2', () => json(SERVER_METADATA));
  app.get('/v2/health/live', () => json({ live: true }));
  app.get('/v2/health/ready', () => {
    const { ready, reasons } = services.readiness();
    return ready ? json({ ready: true }) : json({ ready: false, error: reasons.join('; ') }, 503);
  });

  const metadata = async (model: string, spec: string | undefined) => {
    const version = await resolveVersion(model, spec);
    const signature = await servingSignature(services, model, version);
    const own = services.catalog
      .versions(model)
      .filter((view) => view.servable ?? view.signature !== undefined)
      .map((view) => view.version);
    // Scale-out: versions only other nodes or backends serve are listed too.
    const remote = services.remote?.versionsOf(model) ?? [];
    const versions = (remote.length === 0 ? own : [...new Set([...own, ...remote])].sort((a, b) => a - b)).map(String);
    return json({ name: model, versions, platform: V2_PLATFORM, inputs: signature.inputs, outputs: signature.outputs });
  };

  const modelReady = async (model: string, spec: string | undefined) => {
    try {
      await resolveVersion(model, spec);
      return json({ name: model, ready: true });
    } catch (error) {
      const known = toSwitchyardError(error);
      // Known but not servable (loading, failed, draining, bad route): not ready, not an unknown model.
      if (known.status !== 503) throw error;
      return json({ name: model, ready: false, error: known.message }, 503);
    }
  };

  const infer = async (c: Context, model: string, spec: string | undefined) => {
    const receivedAt = Date.now();
    assertModelExists(services, model);
    if (spec !== undefined) assertVersionSpec(spec);
    const headerDeadline = deadlineFromTimeout(c.req.header('x-request-timeout-ms'), receivedAt);
    const declaredHeader = c.req.header('inference-header-content-length');
    // Binary data starts after the JSON header: read so that it lands aligned, to be viewed, not copied.
    const raw = await readBody(c, services.bodyLimitBytes, { alignAt: Number(declaredHeader ?? 0) });
    // Inputs may view the body until the answer is out; then its buffer is reused (unless it moved).
    const outgoing = outgoingOf(c);
    if (outgoing) bodyBuffers.giveBackAfter(outgoing, raw);
    const body = await decodeContentEncoding(c.req.header('content-encoding'), raw, services.bodyLimitBytes);
    const headerLength = parseHeaderLength(declaredHeader, body.length);
    const { version, shadow } = await services.resolver.resolve(model, spec);
    c.set('modelVersion', version); // for the request metrics
    // The body is not read after this: inputs viewing it may move to the inference thread with it.
    const request = await decodeForVersion(services, model, version, (signature) =>
      decodeInferRequest(body, headerLength, signature, { movableBody: bodyOwnsBuffer(body) }),
    );
    // Triton's `timeout` parameter is in microseconds, counted from the request's arrival.
    const timeoutDeadline = deadlineFromTimeoutMicros(request.timeoutMicros, receivedAt);
    const deadline = earliest(headerDeadline, timeoutDeadline);
    // Copies the inputs of a sampled request now: the primary may move or recycle their buffers.
    const mirror = services.shadow?.begin(model, shadow, request.inputs, request.outputs);
    const result = await services.scheduler.infer({
      model,
      version,
      inputs: request.inputs,
      outputs: request.outputs,
      client: clientConnection(c),
      requestId: requestIdOf(c),
      ...(deadline === undefined ? {} : { deadline }),
      // Body buffers moved to a worker come back with its answer: reused, not reallocated.
      ...(outgoing && hasMovable(request.inputs) ? { recycleInputs: adoptMovedBodies } : {}),
    });
    mirror?.answered(result.outputs); // runs on a later turn: never awaited
    const encoded = encodeInferResponse({
      model,
      version: result.version,
      id: request.id,
      outputs: result.outputs,
      order: request.outputs,
      binaryOutputs: request.binaryOutputs,
      // A large answer goes in a reused buffer, given back once the socket has taken all of it.
      ...(outgoing ? { allocate: (bytes: number) => bodyBuffers.take(bytes) } : {}),
    });
    if (outgoing && typeof encoded.body !== 'string') bodyBuffers.giveBackAfter(outgoing, encoded.body);
    // Plain header objects keep @hono/node-server on its fast response path.
    c.set('requestIdSent', true);
    const requestId = requestIdOf(c);
    const served = servedByHeader(result.servedBy ?? services.nodeId);
    if (encoded.headerLength === undefined) {
      return new Response(encoded.body, { status: 200, headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...served } });
    }
    return new Response(encoded.body, {
      status: 200,
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(encoded.headerLength),
        'x-request-id': requestId,
        ...served,
      },
    });
  };

  const versionStats = (model: string, version: number): ModelStat => modelStat(model, version, services.scheduler.counters?.(model, version));

  const stats = async (model: string, spec: string | undefined) => {
    assertModelExists(services, model);
    let versions: number[];
    const pinned = spec === undefined ? undefined : parseVersion(assertVersionSpec(spec));
    if (spec === undefined) {
      versions = services.catalog.versions(model).map((view) => view.version);
    } else if (pinned !== undefined) {
      // Statistics outlive readiness: any version the registry knows, in any state.
      if (!services.catalog.status(model, pinned)) throw new SwitchyardError('VERSION_NOT_FOUND', `model '${model}' has no version ${pinned}`);
      versions = [pinned];
    } else {
      versions = [(await services.resolver.resolve(model, spec)).version];
    }
    return json({ model_stats: versions.map((version) => versionStats(model, version)) });
  };

  app.get('/v2/models/stats', () =>
    json({
      model_stats: services.catalog.models().flatMap((model) => services.catalog.versions(model).map((view) => versionStats(model, view.version))),
    }),
  );

  app.get('/v2/models/:name', (c) => metadata(c.req.param('name'), undefined));
  app.get('/v2/models/:name/versions/:version', (c) => metadata(c.req.param('name'), c.req.param('version')));
  app.get('/v2/models/:name/ready', (c) => modelReady(c.req.param('name'), undefined));
  app.get('/v2/models/:name/versions/:version/ready', (c) => modelReady(c.req.param('name'), c.req.param('version')));
  app.post('/v2/models/:name/infer', (c) => infer(c, c.req.param('name'), undefined));
  app.post('/v2/models/:name/versions/:version/infer', (c) => infer(c, c.req.param('name'), c.req.param('version')));
  app.get('/v2/models/:name/stats', (c) => stats(c.req.param('name'), undefined));
  app.get('/v2/models/:name/versions/:version/stats', (c) => stats(c.req.param('name'), c.req.param('version')));

  // Model repository extension: management, so behind ADMIN_TOKEN (off, 404, when none is set).
  app.use('/v2/repository/*', adminAuth(services.adminToken));
  app.post('/v2/repository/index', async (c) => {
    const body = await optionalJsonObject(c, services.bodyLimitBytes);
    if (body.ready !== undefined && typeof body.ready !== 'boolean') throw new SwitchyardError('INVALID_REQUEST', '"ready" must be a boolean');
    return json(repositoryIndex(services, body.ready === true));
  });

  const loadParameters = async (c: Context, action: string): Promise<void> => {
    const body = await optionalJsonObject(c, services.bodyLimitBytes);
    const { parameters } = body;
    if (parameters === undefined) return;
    if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters)) {
      throw new SwitchyardError('INVALID_REQUEST', '"parameters" must be an object');
    }
    const unsupported = Object.keys(parameters).filter((key) => key === 'config' || key.startsWith('file:'));
    if (unsupported.length > 0) {
      throw new SwitchyardError(
        'INVALID_REQUEST',
        `${action} parameter${unsupported.length > 1 ? 's' : ''} ${unsupported.map((k) => `"${k}"`).join(', ')} not supported: models load from the repository folder`,
      );
    }
  };

  app.post('/v2/repository/models/:name/load', async (c) => {
    const name = assertModelName(c.req.param('name'));
    await loadParameters(c, 'load');
    await loadModel(services, name);
    return new Response(null, { status: 200 });
  });

  app.post('/v2/repository/models/:name/unload', async (c) => {
    const name = assertModelName(c.req.param('name'));
    await loadParameters(c, 'unload');
    await unloadModel(services, name);
    return new Response(null, { status: 200 });
  });

  return app;
}
