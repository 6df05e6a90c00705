/**
 * One static V2 backend as an operator writes it (in config/backends.json or a Redis key), and the
 * one check both sources use, so an entry refused in the file is refused in Redis for the same
 * reason, in the same words. The check bounds everything it accepts (URLs, models, versions), since
 * each of those becomes a probe every few seconds and a metric series.
 *
 *     { "urls": ["http://10.0.0.5:8000"], "models": { "resnet": [1, 2] }, "weight": 1 }
 */
import { z } from 'zod';
import { isValidModelName, isValidVersion, MODEL_NAME_RULE } from '../repository/model-name.js';

/** Most URLs one backend lists. */
export const MAX_BACKEND_URLS = 32;
/** Most models one backend lists. */
export const MAX_BACKEND_MODELS = 64;
/** Most versions one backend lists per model. */
export const MAX_BACKEND_VERSIONS = 16;
/** Longest URL accepted. */
const MAX_URL_LENGTH = 2048;
/** Largest weight; weights are relative, so this only keeps arithmetic sane. */
export const MAX_BACKEND_WEIGHT = 1000;

/** A backend after the check: frozen, URLs normalised (no trailing slash), models in a Map. */
export interface BackendEntry {
  readonly name: string;
  readonly urls: readonly string[];
  /** model -> its versions, ascending, no duplicates. A Map, so a model named `constructor` is no prototype's. */
  readonly models: ReadonlyMap<string, readonly number[]>;
  readonly weight: number;
}

const urlSchema = z
  .string()
  .max(MAX_URL_LENGTH)
  .transform((text, context) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      context.addIssue({ code: 'custom', message: `"${text}" is not a URL` });
      return z.NEVER;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      context.addIssue({ code: 'custom', message: `"${text}" is not an http(s) URL` });
      return z.NEVER;
    }
    // They would show in logs, metrics and GET /cluster.
    if (url.username !== '' || url.password !== '') {
      context.addIssue({ code: 'custom', message: `"${url.host}": credentials in a backend URL are not allowed` });
      return z.NEVER;
    }
    if (url.search !== '' || url.hash !== '') {
      context.addIssue({ code: 'custom', message: `"${text}": a base URL has no query or fragment` });
      return z.NEVER;
    }
    return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  });

const versionSchema = z.number().refine(isValidVersion, { message: 'a version is a positive integer' });

const entrySchema = z
  .object({
    urls: z.array(urlSchema).min(1, 'at least one URL').max(MAX_BACKEND_URLS, `at most ${MAX_BACKEND_URLS} URLs`),
    models: z
      .record(
        z.string().refine(isValidModelName, { message: `a model name is ${MODEL_NAME_RULE}` }),
        z.array(versionSchema).min(1, 'at least one version').max(MAX_BACKEND_VERSIONS, `at most ${MAX_BACKEND_VERSIONS} versions per model`),
      ),
    weight: z.number().positive().max(MAX_BACKEND_WEIGHT).optional(),
  })
  .strict();

/**
 * Checks one entry; throws an Error whose message says what is wrong (the caller names the
 * backend). `value` is anything JSON.parse gave.
 */
export function parseBackendEntry(name: string, value: unknown): BackendEntry {
  if (!isValidModelName(name)) throw new Error(`the name is not valid: a backend name is ${MODEL_NAME_RULE}`);
  // Checked before zod walks the record, so a huge one costs nothing and `__proto__` is only a key.
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const models = (value as Record<string, unknown>).models;
    if (models !== null && typeof models === 'object' && !Array.isArray(models)) {
      const names = Object.keys(models);
      if (names.length > MAX_BACKEND_MODELS) throw new Error(`"models": at most ${MAX_BACKEND_MODELS} models`);
      // Here rather than in zod, whose record reports only "Invalid key in record".
      const bad = names.find((model) => !isValidModelName(model));
      if (bad !== undefined) throw new Error(`models: "${bad.slice(0, 200)}" is not a model name (${MODEL_NAME_RULE})`);
    }
  }
  const parsed = entrySchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ` : '') + issue.message);
    throw new Error(problems.join('; '));
  }
  if (Object.keys(parsed.data.models).length === 0) throw new Error('"models": at least one model');
  const models = new Map<string, readonly number[]>();
  // From the raw value: zod's record copy would have treated a `__proto__` key as the prototype.
  for (const [model, versions] of Object.entries((value as { models: Record<string, number[]> }).models)) {
    // Again here: zod does not see a `__proto__` key JSON.parse made an own property.
    if (!isValidModelName(model)) throw new Error(`models: "${model.slice(0, 200)}" is not a model name (${MODEL_NAME_RULE})`);
    models.set(model, Object.freeze([...new Set(versions)].sort((a, b) => a - b)));
  }
  return Object.freeze({ name, urls: Object.freeze([...new Set(parsed.data.urls)]), models, weight: parsed.data.weight ?? 1 });
}

/** A stable text of an entry, to tell an edit from a re-read of the same content. */
export function backendEntryFingerprint(entry: BackendEntry): string {
  return JSON.stringify([entry.urls, [...entry.models].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), entry.weight]);
}
