/**
 * What the HTTP layer needs from the rest of the gateway, as small interfaces: routes stay thin
 * (decode, call, encode) and tests can assemble an app from real parts in any combination.
 */
import type { Logger } from 'pino';
import type { InferenceScheduler } from '../scheduling/inference-scheduler.js';
import type { ModelSignature } from '../tensor.js';
import type { RequestGate } from './request-gate.js';

export interface VersionView {
  readonly version: number;
  readonly state: string;
  readonly reason?: string | undefined;
  readonly signature?: ModelSignature | undefined;
}

export interface ModelCatalog {
  has(model: string): boolean;
  models(): string[];
  versions(model: string): readonly VersionView[];
  /** One version's view (the hot path: no list of every version). */
  status(model: string, version: number): VersionView | undefined;
}

export interface VersionResolver {
  resolve(model: string, versionSpec?: string): Promise<{ version: number; alias?: string | undefined }>;
  /** The model's alias -> target table as the routing source has it (for display). */
  routes(model: string): Promise<Record<string, string>>;
}

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface ModelConfigView {
  /** The config.json in force (defaults for absent fields are applied where used). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Why the current config.json was refused (the previous one stays in force). */
  readonly error?: string | undefined;
}

export interface HttpServices {
  /** A model's config.json as in force. */
  modelConfig(model: string): ModelConfigView;
  readonly catalog: ModelCatalog;
  readonly resolver: VersionResolver;
  readonly scheduler: InferenceScheduler;
  readonly gate: RequestGate;
  readiness(): Readiness;
  readonly logger: Logger;
  /** Largest accepted request body. */
  readonly bodyLimitBytes: number;
}
