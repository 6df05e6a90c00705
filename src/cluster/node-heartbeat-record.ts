/**
 * The heartbeat as it is stored in Redis (`<prefix>nodes:<id>`, a JSON string with a TTL): one
 * schema for the writer and the reader. Anything in Redis may be hostile or from another
 * version, so the reader validates every field with bounds (lengths, counts, finite numbers)
 * before a value reaches the directory; what does not fit is skipped, never half-used.
 */
import { z } from 'zod';
import { NODE_ID_PATTERN } from '../config.js';
import { isValidModelName } from '../repository/model-name.js';
import type { NodeView } from './cluster-types.js';

/** Most versions one heartbeat lists (the value stays well under 100 KB). */
export const MAX_HEARTBEAT_VERSIONS = 500;
/** Longest heartbeat value the reader accepts. */
export const MAX_HEARTBEAT_BYTES = 128 * 1024;

/** A heartbeat: what other nodes see of this one, plus the fields that manage the entry itself. */
export interface NodeHeartbeatRecord extends NodeView {
  /** The TTL the writer set (PX): after this long without a new heartbeat the node is out. */
  readonly ttlMs: number;
  /** Random per process: tells a restarted node (same id) from the old one, and guards the delete at shutdown. */
  readonly instance: string;
  /** HTTP loops serving `url` (HTTP_LOOPS); the counts cover all of them. */
  readonly loops: number;
}

const count = z.number().int().min(0).max(1e9);
const ms = z.number().finite().min(0).max(1e7);
const epochMs = z.number().int().min(0).max(1e14);

export const nodeHeartbeatSchema = z
  .object({
    id: z.string().regex(NODE_ID_PATTERN),
    url: z
      .string()
      .max(512)
      .regex(/^https?:\/\/[^/?#\s]+$/, 'a base URL without a path or trailing slash'),
    startedAt: epochMs,
    heartbeatAt: epochMs,
    ttlMs: z.number().int().min(100).max(600_000),
    instance: z.string().min(1).max(64),
    loops: z.number().int().min(1).max(1024),
    eventLoopUtilization: z.number().finite().min(0).max(1),
    p50Ms: ms,
    p99Ms: ms,
    versions: z
      .array(
        z.object({
          model: z.string().refine(isValidModelName, 'not a valid model name'),
          version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
          inFlight: count,
          queued: count,
        }),
      )
      .max(MAX_HEARTBEAT_VERSIONS),
  })
  .strip();

/** The Redis key of a node's heartbeat. */
export function heartbeatKey(prefix: string, id: string): string {
  return `${prefix}nodes:${id}`;
}

/**
 * A stored value as a record, or the reason it is not one (bounded for a log line). `key` is
 * where it was read: a value whose id is not its key's is refused (it would shadow another node).
 */
export function parseHeartbeat(prefix: string, key: string, value: string): { record: NodeHeartbeatRecord } | { problem: string } {
  if (value.length > MAX_HEARTBEAT_BYTES) return { problem: `larger than ${MAX_HEARTBEAT_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (error) {
    return { problem: `not JSON (${(error as Error).message.slice(0, 120)})` };
  }
  const parsed = nodeHeartbeatSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || '(value)'}: ${issue.message}`);
    return { problem: issues.join('; ').slice(0, 300) };
  }
  if (heartbeatKey(prefix, parsed.data.id) !== key) return { problem: `its id "${parsed.data.id}" is not the one in its key` };
  return { record: parsed.data };
}
