/**
 * GET /cluster: this node, the other live nodes with their heartbeat fields, and, where the
 * gateway has them, each target's health (ejection, breaker) and the static backends. Read from
 * memory only (the directory refreshes itself in the background), so it answers at once even
 * while Redis is down, and says so (`stale`). Behind the API keys when API_KEYS is set.
 */
import { Hono } from 'hono';
import type { NodeView, UpstreamHealthView } from '../../cluster/cluster-types.js';
import type { ClusterListing } from '../http-services.js';

/** A node as GET /cluster lists it: its heartbeat, how old that is, and its health when tracked. */
export interface ClusterNodeEntry extends NodeView {
  /** ms since the node wrote the heartbeat (by this node's clock). */
  readonly ageMs: number;
  readonly health?: UpstreamHealthView | undefined;
}

export function clusterRoutes(listing: ClusterListing): Hono {
  const app = new Hono();
  app.get('/cluster', (c) => {
    const now = Date.now();
    const members = listing.members;
    const health = listing.health;
    const nodes: ClusterNodeEntry[] = (members?.nodes() ?? []).map((node) => ({
      ...node,
      ageMs: Math.max(0, now - node.heartbeatAt),
      ...(health ? { health: health.describe(node.id) } : {}),
    }));
    const backends = listing.backends?.describe().map((backend) => ({
      ...backend,
      ...(health ? { health: health.describe(`backend:${backend.name}:${backend.url}`) } : {}),
    }));
    return c.json({
      self: listing.self(),
      membership: members ? 'redis' : 'off',
      stale: members?.stale ?? false,
      nodes,
      ...(backends ? { backends } : {}),
    });
  });
  return app;
}
