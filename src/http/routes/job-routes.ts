/**
 * Async predictions over HTTP: `POST /jobs` (or a predict request with `Prefer: respond-async`)
 * answers 202 with a job id and `Location: /jobs/<id>`; `GET /jobs/:id` reports the job (with
 * `Prefer: wait=<s>` or `?wait=<s>` it waits up to that long for the job to finish first);
 * `DELETE /jobs/:id` cancels a job that has not started; `GET /jobs` counts jobs by status.
 * A request is validated exactly as a sync one before anything is queued (a bad one is a 400 at
 * once). Without a job queue (no REDIS_URL) every one of these answers 501.
 */
import { Hono, type Context } from 'hono';
import { SwitchyardError } from '../../errors.js';
import { jobViewToJson, type JobView } from '../../jobs/prediction-job.js';
import { decodeNativeRequest, nativeRequestText } from '../../protocol/native-json-codec.js';
import type { AsyncJobs, HttpServices } from '../http-services.js';
import { assertModelExists, signatureOf } from '../model-lookup.js';
import { parsePrefer } from '../prefer-header.js';
import { readJsonBody } from '../request-body.js';
import { requestIdOf } from '../middleware/request-id.js';
import { assertVersionSpec, timeoutHeaderMs } from '../request-params.js';
import { idempotencyKeyOf } from '../idempotency-key.js';

/** Longest wait a `GET /jobs/:id` may ask for, in seconds. */
export const MAX_JOB_WAIT_SECONDS = 60;


export function requireJobs(services: HttpServices): AsyncJobs {
  if (!services.jobs) {
    throw new SwitchyardError(
      'ASYNC_UNAVAILABLE',
      'async predictions need REDIS_URL: jobs are kept in Redis so that none is lost when a replica stops; this gateway runs without Redis',
    );
  }
  return services.jobs;
}

export interface AsyncPrediction {
  readonly model: string;
  /** The version as asked (integer or alias); absent = the model's default route. */
  readonly versionSpec: string | undefined;
  /** The parsed native body `{"inputs", "outputs"?}`. */
  readonly body: unknown;
  /** The body as JSON text, stored with the job: asked for only once the body has decoded. */
  readonly payload: () => string;
}

/** Resolves, validates like a sync request, then queues; answers 202 with the job. */
export async function submitAsyncPrediction(c: Context, services: HttpServices, request: AsyncPrediction): Promise<Response> {
  const jobs = requireJobs(services);
  const key = idempotencyKeyOf(c);
  // A job has no deadline, but a timeout is held to the rule of every route: a bad one is a 400 here too.
  timeoutHeaderMs(c.req.header('x-request-timeout-ms'));
  const { model, versionSpec } = request;
  assertModelExists(services, model);
  if (versionSpec !== undefined) assertVersionSpec(versionSpec);
  const { version } = await services.resolver.resolve(model, versionSpec);
  decodeNativeRequest(request.body, signatureOf(services, model, version)); // a bad request is a 400 now, not a FAILED job later
  const { view, created } = await jobs.submit({
    model,
    version,
    versionSpec,
    payload: request.payload(),
    idempotencyKey: key,
    client: c.get('apiKeyId'),
    requestId: requestIdOf(c),
  });
  if (created) services.metrics?.jobSubmitted(model);
  c.header('Location', `/jobs/${view.id}`);
  c.header('Preference-Applied', 'respond-async');
  c.header('x-model-version', String(view.version));
  if (!created) c.header('Idempotent-Replayed', 'true');
  return c.json({ job_id: view.id, status: view.status, model_name: view.model, model_version: String(view.version) }, 202);
}

function jobResponse(c: Context, view: JobView): Response {
  c.header('x-model-version', String(view.version));
  return c.body(jobViewToJson(view), 200, { 'content-type': 'application/json' });
}

function notFound(id: string): SwitchyardError {
  return new SwitchyardError('JOB_NOT_FOUND', `no job with id '${id.slice(0, 100)}' (never submitted, cancelled long ago, or its result expired)`);
}

/** `?wait=` or `Prefer: wait=` seconds -> milliseconds, capped. */
function waitMsOf(c: Context): number {
  const query = c.req.query('wait');
  let seconds = parsePrefer(c.req.header('prefer')).waitSeconds;
  if (query !== undefined) {
    seconds = Number(query);
    if (query === '' || !Number.isFinite(seconds) || seconds < 0) {
      throw new SwitchyardError('INVALID_REQUEST', `invalid wait '${query.slice(0, 40)}': a number of seconds, at most ${MAX_JOB_WAIT_SECONDS}`);
    }
  }
  if (seconds === undefined) return 0;
  const capped = Math.min(seconds, MAX_JOB_WAIT_SECONDS);
  c.header('Preference-Applied', `wait=${capped}`);
  return Math.round(capped * 1000);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function jobRoutes(services: HttpServices): Hono {
  const app = new Hono();

  app.post('/jobs', async (c) => {
    requireJobs(services);
    const body = await readJsonBody(c, services.bodyLimitBytes);
    if (!isPlainObject(body) || typeof body['model'] !== 'string') {
      throw new SwitchyardError('INVALID_REQUEST', 'the body must be a JSON object like {"model": "<name>", "version"?: <n or alias>, "inputs": {...}}');
    }
    const version = body['version'];
    if (version !== undefined && typeof version !== 'string' && typeof version !== 'number') {
      throw new SwitchyardError('INVALID_REQUEST', '"version" must be an integer or an alias');
    }
    const request = { inputs: body['inputs'], ...(body['outputs'] === undefined ? {} : { outputs: body['outputs'] }) };
    return submitAsyncPrediction(c, services, {
      model: body['model'],
      versionSpec: version === undefined ? undefined : String(version),
      body: request,
      payload: () => nativeRequestText(request),
    });
  });

  app.get('/jobs', async (c) => c.json(await requireJobs(services).counts()));

  app.get('/jobs/:id', async (c) => {
    const jobs = requireJobs(services);
    const id = c.req.param('id');
    const view = await jobs.get(id, waitMsOf(c), c.get('apiKeyId'));
    if (!view) throw notFound(id);
    return jobResponse(c, view);
  });

  app.delete('/jobs/:id', async (c) => {
    const jobs = requireJobs(services);
    const { view, cancelledNow } = await jobs.cancel(c.req.param('id'), c.get('apiKeyId'));
    if (cancelledNow) services.metrics?.jobCancelled(view.model);
    return jobResponse(c, view);
  });

  return app;
}
