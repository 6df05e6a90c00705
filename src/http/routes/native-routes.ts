/**
 * Native endpoints: versioned predict and model listing. Thin on purpose: validate the path,
 * resolve the version, decode against its signature, hand to the scheduler, encode.
 */
import { Hono } from 'hono';
import { decodeNativeRequest, encodeNativeResponse } from '../../protocol/native-json-codec.js';
import type { HttpServices, VersionView } from '../http-services.js';
import { submitAsyncPrediction } from './job-routes.js';
import { assertModelExists, decodeForVersion, unloadedVersions } from '../model-lookup.js';
import { parsePrefer } from '../prefer-header.js';
import { clientConnection, parseJsonBody, readBody, readJsonBody } from '../request-body.js';
import { servedByHeader } from '../served-by-header.js';
import { requestIdOf } from '../middleware/request-id.js';
import { assertModelName, assertVersionSpec, deadlineFromTimeout } from '../request-params.js';

function describeVersion(services: HttpServices, model: string, view: VersionView) {
  const counters = services.scheduler.counters?.(model, view.version);
  const round = (value: number) => Math.round(value * 1000) / 1000;
  return {
    version: view.version,
    state: view.state,
    ...(view.reason ? { reason: view.reason } : {}),
    inputs: view.signature?.inputs ?? [],
    outputs: view.signature?.outputs ?? [],
    ...(view.warmup
      ? {
          warmup: {
            mode: view.warmup.mode,
            source: view.warmup.source,
            samples: view.warmup.samples,
            ran: view.warmup.ran,
            ...(view.warmup.lastError === undefined ? {} : { last_error: view.warmup.lastError }),
          },
        }
      : {}),
    stats: {
      requests: counters?.requests ?? 0,
      successes: counters?.successes ?? 0,
      failures: counters?.failures ?? 0,
      executions: counters?.executions ?? 0,
      splits: counters?.splits ?? 0,
      average_batch_size: counters && counters.executions > 0 ? round(counters.inferredRows / counters.executions) : 0,
      average_queue_ms: counters && counters.requests > 0 ? round(counters.queueTimeMs / counters.requests) : 0,
      average_compute_ms: counters && counters.executions > 0 ? round(counters.computeTimeMs / counters.executions) : 0,
      rejected: {
        queue_full: counters?.rejectedQueueFull ?? 0,
        deadline: counters?.rejectedDeadline ?? 0,
        cancelled: counters?.cancelled ?? 0,
      },
    },
  };
}

/** A model's shadow counts as GET /models/<name> shows them, one entry per shadow version. */
function shadowView(stats: ReturnType<NonNullable<HttpServices['shadow']>['stats']>) {
  return {
    versions: stats.map((s) => ({
      version: s.version,
      mirrored: s.mirrored,
      compared: s.compared,
      agreed: s.agreed,
      disagreed: s.disagreed,
      errors: s.errors,
      dropped: s.dropped,
      max_abs_difference: s.maxAbsDifference,
      argmax_rows: s.argmaxRows,
      argmax_agreement_rate: s.argmaxRows > 0 ? s.argmaxAgreed / s.argmaxRows : null,
    })),
  };
}

export function nativeRoutes(services: HttpServices): Hono {
  const app = new Hono();

  const predict = async (c: import('hono').Context, model: string, spec: string | undefined) => {
    const prefer = c.req.header('prefer');
    if (prefer !== undefined && parsePrefer(prefer).respondAsync) {
      // The async path checks the model and version itself (it serves POST /jobs too).
      const raw = await readBody(c, services.bodyLimitBytes);
      return submitAsyncPrediction(c, services, { model, versionSpec: spec, body: parseJsonBody(raw), payload: () => raw.toString('utf8') });
    }
    assertModelExists(services, model);
    if (spec !== undefined) assertVersionSpec(spec);
    const deadline = deadlineFromTimeout(c.req.header('x-request-timeout-ms'));
    const body = await readJsonBody(c, services.bodyLimitBytes);
    const { version, shadow } = await services.resolver.resolve(model, spec);
    c.set('modelVersion', version); // for the request metrics
    try {
      const decoded = await decodeForVersion(services, model, version, (signature) => decodeNativeRequest(body, signature));
      const mirror = services.shadow?.begin(model, shadow, decoded.inputs, decoded.outputs);
      const result = await services.scheduler.infer({
        model,
        version,
        inputs: decoded.inputs,
        outputs: decoded.outputs,
        client: clientConnection(c),
        requestId: requestIdOf(c),
        ...(deadline === undefined ? {} : { deadline }),
      });
      mirror?.answered(result.outputs); // runs on a later turn: never awaited
      // A plain header object (no c.header()) keeps @hono/node-server on its fast response path.
      c.set('requestIdSent', true);
      return new Response(encodeNativeResponse(model, result.version, result.outputs), {
        status: 200,
        headers: {
          'content-type': 'application/json',
          'x-model-version': String(result.version),
          'x-request-id': requestIdOf(c),
          ...servedByHeader(result.servedBy ?? services.nodeId),
        },
      });
    } catch (error) {
      // Errors after routing still say which version the request was routed to.
      c.header('x-model-version', String(version));
      throw error;
    }
  };

  app.post('/models/:name/predict', (c) => predict(c, c.req.param('name'), undefined));
  app.post('/models/:name/:version/predict', (c) => predict(c, c.req.param('name'), c.req.param('version')));

  app.get('/models', async (c) => {
    const models = await Promise.all(
      services.catalog.models().map(async (name) => ({
        name,
        versions: services.catalog.versions(name).map((v) => ({
          version: v.version,
          state: v.state,
          ...(v.reason ? { reason: v.reason } : {}),
        })),
        routes: await services.resolver.routes(name).catch(() => ({})),
      })),
    );
    return c.json({ models });
  });

  app.get('/models/:name', async (c) => {
    const name = assertModelName(c.req.param('name'));
    // An unloaded model is still described: its version folders, UNLOADED (as the V2 index shows them).
    const unloaded = unloadedVersions(services, name);
    if (!unloaded) assertModelExists(services, name);
    const views: readonly VersionView[] = unloaded
      ? unloaded.map((version) => ({ version, state: 'UNLOADED', reason: 'unloaded' }))
      : services.catalog.versions(name);
    const { config, error } = services.modelConfig(name);
    return c.json({
      name,
      versions: views.map((view) => describeVersion(services, name, view)),
      routes: await services.resolver.routes(name).catch(() => ({})),
      ...(services.shadow ? { shadow: shadowView(services.shadow.stats(name)) } : {}),
      config,
      ...(error ? { config_error: error } : {}),
    });
  });

  return app;
}
